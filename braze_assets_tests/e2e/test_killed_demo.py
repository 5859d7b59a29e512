"""`braze-assets demo` killed with SIGKILL mid-graph (its whole process group, as a supervisor
does), then run again: the rerun must release what the dead run held and finish like a clean run.

Before the fix the rerun waited forever for the `duckdb_warehouse` pool slot that the dead run
still held in the instance's storage."""

import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.sandbox import SandboxServer
from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.conftest import DEMO_PEOPLE, cli_env, run_cli

# The rerun of a 1,500-person demo takes well under a minute; a hang shows as this timeout.
RERUN_TIMEOUT = 150


def _start_demo(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "braze_assets.cli", "demo", "--people", str(DEMO_PEOPLE)],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _slot_holders(home) -> set[str]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        return {claim.run_id for claim in info.claimed_slots}


def _kill_group_during(process: subprocess.Popen, marker: str, home) -> list[str]:
    """Read the demo's output until `marker` starts and that run holds the warehouse pool slot
    (the moment a dead run blocks the next one), then SIGKILL the whole process group."""
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip())
            if marker in line:
                break
        else:
            pytest.fail("the demo ended before the kill point:\n" + "\n".join(lines))
        deadline = time.monotonic() + 60
        holders: set[str] = set()
        while not holders and time.monotonic() < deadline:
            holders = _slot_holders(home)
            time.sleep(0.1)
        assert holders, "the run never took the warehouse pool slot"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    # Otherwise this test would not show the dead run's slot being freed.
    assert _slot_holders(home), "the kill fell between two steps; the slot was already free"
    return lines


def _final_state(data_dir):
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        customers = con.execute("SELECT count(*) FROM customer_360").fetchone()[0]
        delivered = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT identifier FROM braze_sync_results WHERE status = 'delivered'"
            ).fetchall()
        }
    finally:
        con.close()
    with SandboxServer(data_dir / "braze_sandbox") as sandbox:
        profiles = {p["external_id"] for p in sandbox.profiles()}
    return customers, delivered, profiles


def test_demo_killed_mid_graph_recovers_on_rerun(tmp_path, demo_run):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(data_dir)
    # customer_360_refresh runs for several seconds and holds the warehouse pool slot meanwhile.
    before = _kill_group_during(
        _start_demo(env), "running customer_360_refresh", data_dir / "dagster_home"
    )
    assert any("running customer_360_refresh" in line for line in before)

    try:
        rerun = run_cli("demo", env=env, timeout=RERUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the rerun hung for {RERUN_TIMEOUT} s:\n{exc.stdout}\n{exc.stderr}")
    assert rerun.returncode == 0, f"rerun failed:\n{rerun.stdout}\n{rerun.stderr}"
    # The dead run is named, with why it was marked failed.
    assert "marked failed" in rerun.stdout, rerun.stdout

    customers, delivered, profiles = _final_state(data_dir)
    clean_customers, clean_delivered, clean_profiles = _final_state(demo_run.data_dir)
    assert customers == clean_customers
    assert delivered == clean_delivered
    assert profiles == clean_profiles
