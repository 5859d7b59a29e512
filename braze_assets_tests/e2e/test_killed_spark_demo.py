"""`BRAZE_ASSETS_ENGINE=spark braze-assets demo` killed with SIGKILL mid-graph (its whole process
group: the CLI, Dagster's step processes and their Spark JVMs), then run again: the rerun frees
what the dead run held (the warehouse pool slot, whatever Spark had half-written at the table
location) and ends where a clean demo ends.

The kill falls after Spark has written the scored pairs, while customer_360_refresh's run holds the
warehouse pool slot (clustering or customer 360 copying its table into the warehouse file). The
clean demo it is compared with is DuckDB mode's (`demo_run`): the parity tests show both engines
reach the same state from the same inputs.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import sqlalchemy.exc

from braze_assets.engine.config import ENV_ENGINE
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets_tests.conftest import DEMO_PEOPLE, cli_env, start_cli
from braze_assets_tests.e2e.test_killed_demo import (
    _slot_holders,
    assert_rerun_ends_like_a_clean_demo,
)
from braze_assets_tests.engine.test_demo_parity import SPARK_ENGINE_YAML

pytestmark = pytest.mark.slow

# A whole Spark-mode demo of 1,500 people takes about four minutes on a quiet 2-core machine.
RERUN_TIMEOUT = 1200


def _kill_once_spark_wrote(process: subprocess.Popen, data_dir) -> bool:
    """SIGKILL the demo's process group once Spark has written the scored pairs at the table
    location and a run of customer_360_refresh holds the warehouse pool slot (clustering's copy
    into the warehouse file, or a later step of that job). False if the kill fell elsewhere."""
    home = data_dir / "dagster_home"
    written = data_dir / "spark_tables" / "unified_scores" / "_SUCCESS"
    lines: list[str] = []
    # The demo's output (Dagster's logs included) is drained, or its pipe fills and it blocks.
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    holders: dict[str, str] = {}
    deadline = time.monotonic() + 1200
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if written.exists():
                try:
                    holders = _slot_holders(home)
                except (sqlite3.OperationalError, sqlalchemy.exc.OperationalError):
                    holders = {}
                if holders:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the demo ended or stalled before the kill point:\n" + "".join(lines))
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    return "customer_360_refresh" in holders.values() and bool(_slot_holders(home))


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_spark_demo_killed_mid_graph_recovers_on_rerun(tmp_path, demo_run):
    config_dir = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, config_dir)
    (config_dir / "engine.yaml").write_text(SPARK_ENGINE_YAML)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(data_dir, BRAZE_ASSETS_CONFIG_DIR=str(config_dir), **{ENV_ENGINE: "spark"})
    for _attempt in range(3):
        if _kill_once_spark_wrote(
            start_cli("demo", "--people", str(DEMO_PEOPLE), env=env), data_dir
        ):
            break
    else:
        pytest.fail("three kills all fell outside customer_360_refresh's hold of the slot")

    assert_rerun_ends_like_a_clean_demo(data_dir, env, demo_run, RERUN_TIMEOUT)
