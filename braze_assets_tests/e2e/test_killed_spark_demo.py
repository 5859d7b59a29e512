"""`BRAZE_ASSETS_ENGINE=spark braze-assets demo` killed with SIGKILL mid-graph (its whole process
group: the CLI, Dagster's step processes and their Spark JVMs), then run again: the rerun frees
what the dead run held (the warehouse pool slot, a half-written Parquet table at the table
location) and ends where a clean demo ends.

The kill falls in customer_360_refresh while its run holds the warehouse pool slot: in Spark mode
that job's assets write Parquet at the table location and copy the result into the warehouse file.
The clean demo it is compared with is DuckDB mode's (`demo_run`): the parity tests show both
engines reach the same state from the same inputs.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from braze_assets.engine.config import ENV_ENGINE
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import DEMO_PEOPLE, cli_env, run_cli, start_cli
from braze_assets_tests.e2e.test_killed_demo import _final_state, _kill_group_during
from braze_assets_tests.engine.test_demo_parity import SPARK_ENGINE_YAML

pytestmark = pytest.mark.slow

# A whole Spark-mode demo of 1,500 people takes about four minutes on a quiet 2-core machine.
RERUN_TIMEOUT = 1200


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_spark_demo_killed_mid_graph_recovers_on_rerun(tmp_path, demo_run):
    config_dir = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config_dir)
    (config_dir / "engine.yaml").write_text(SPARK_ENGINE_YAML)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(data_dir, BRAZE_ASSETS_CONFIG_DIR=str(config_dir), **{ENV_ENGINE: "spark"})
    for _attempt in range(5):
        before = _kill_group_during(
            start_cli("demo", "--people", str(DEMO_PEOPLE), env=env),
            "running customer_360_refresh",
            data_dir / "dagster_home",
        )
        if before is not None:
            break
    else:
        pytest.fail("five kills all fell between two steps; none left the slot held")
    # The dead run was in Spark mode, past identity: its tables are at the table location.
    assert (data_dir / "spark_tables" / "unified_coalesced" / "_SUCCESS").exists()

    try:
        rerun = run_cli("demo", env=env, timeout=RERUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the rerun hung for {RERUN_TIMEOUT} s:\n{exc.stdout}\n{exc.stderr}")
    assert rerun.returncode == 0, f"rerun failed:\n{rerun.stdout}\n{rerun.stderr}"
    assert "marked failed" in rerun.stdout, rerun.stdout

    customers, delivered, profiles = _final_state(data_dir)
    clean_customers, clean_delivered, clean_profiles = _final_state(demo_run.data_dir)
    assert customers == clean_customers
    assert delivered == clean_delivered
    assert profiles == clean_profiles
