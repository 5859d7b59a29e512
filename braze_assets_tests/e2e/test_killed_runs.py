"""Runs started the ways other than `braze-assets demo` (a run the daemon launches, as for the UI,
a schedule or a sensor, and `dg launch` in a terminal), killed with SIGKILL while a step holds the
`duckdb_warehouse` pool slot, on a real Dagster instance with `dagster-daemon run`.

The run monitoring daemon must mark each dead run failed with a reason that says its process is
gone, and its pool slot must be freed so the next warehouse run completes. Before the fix both
runs stayed STARTED and held the slot forever: the default launcher has no health check, and the
code server that would notice its run worker dying was killed with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.conftest import BIN, cli_env, run_cli, run_command, run_dg

# Kill and fault scenarios over whole runs take minutes: outside the default run (`./run test -m slow`).
pytestmark = pytest.mark.slow

# Guards against a hang only; with a 5 s monitoring poll each wait ends within seconds.
WAIT = 120


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, as a supervisor or terminal would run it, so it can be killed whole.
    return subprocess.Popen(
        args,
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _wait_for(what: str, condition, log: Path | None = None):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log else ""
    pytest.fail(f"{what} did not happen within {WAIT} s\n{tail}")


def _instance(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def _claims(home: Path) -> dict[str, str]:
    """Run id -> step key of every held `duckdb_warehouse` slot."""
    with _instance(home) as instance:
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        return {claim.run_id: claim.step_key for claim in info.claimed_slots}


def _run(home: Path, run_id: str):
    with _instance(home) as instance:
        return instance.get_run_by_id(run_id)


def _failure_message(home: Path, run_id: str) -> str:
    import dagster as dg

    with _instance(home) as instance:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        return " ".join(r.event_log_entry.dagster_event.message or "" for r in records)


def _kill_while_holding_slot(process: subprocess.Popen, home: Path, log: Path, known: set[str]):
    """SIGKILL the process group once a new run holds the warehouse slot; returns that run's id."""
    run_id = _wait_for(
        "a new run taking the warehouse slot",
        lambda: next((r for r in _claims(home) if r not in known), None),
        log,
    )
    _kill_group(process)
    assert _run(home, run_id).status.value == "STARTED"
    assert run_id in _claims(home), "the kill must leave the dead run holding the slot"
    return run_id


def _assert_marked_failed_and_freed(home: Path, run_id: str, log: Path) -> None:
    _wait_for(f"run {run_id[:8]} marked failed", lambda: _run(home, run_id).is_finished, log)
    run = _run(home, run_id)
    assert run.status.value == "FAILURE"
    message = _failure_message(home, run_id)
    assert "is gone" in message and run.tags["braze_assets/cli_pid"] in message, message
    _wait_for(f"the slot of run {run_id[:8]} freed", lambda: run_id not in _claims(home), log)


def prepared_data_dir(tmp_path: Path, people: int) -> tuple[Path, Path, dict[str, str]]:
    """A data dir with generated demo sources and an instance using the project's dagster.yaml."""
    data_dir = tmp_path / "data"
    home = data_dir / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    env = cli_env(data_dir)
    generated = run_cli("generate", "--people", str(people), env=env)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    with _instance(home):  # creates the storage before two processes race to create it
        pass
    return data_dir, home, env


DAEMON_ARGS = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]


def queue_job(job: str, env: dict[str, str]) -> None:
    """Submit a run to the instance's queue, which the daemon launches (as the UI, a schedule or
    a sensor does)."""
    launched = run_command(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", job],
        env=env,
        timeout=WAIT,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr


def test_killed_daemon_and_cli_runs_are_failed_by_run_monitoring_and_free_their_slot(tmp_path):
    data_dir, home, env = prepared_data_dir(tmp_path, 1500)
    daemon_log = tmp_path / "daemon.log"
    daemon_args = DAEMON_ARGS

    # 1. A run the daemon launches (what the UI, a schedule or a sensor does); the daemon, its
    # code server, the run worker and its step process all die together.
    daemon = _start(daemon_args, env, daemon_log)
    try:
        queue_job("customer_360_refresh", env)
        first = _kill_while_holding_slot(daemon, home, daemon_log, set())
    finally:
        if daemon.poll() is None:
            _kill_group(daemon)

    daemon = _start(daemon_args, env, daemon_log)
    try:
        _assert_marked_failed_and_freed(home, first, daemon_log)

        # 2. `dg launch --assets` runs in the terminal's process, with no launcher or code server.
        cli_log = tmp_path / "dg_launch.log"
        assets = "raw_pos,raw_ecommerce,raw_loyalty,raw_email_list,raw_txn_orders"
        cli = _start([str(BIN / "dg"), "launch", "--assets", assets], env, cli_log)
        second = _kill_while_holding_slot(cli, home, cli_log, {first})
        _assert_marked_failed_and_freed(home, second, daemon_log)

        # 3. The next warehouse run gets the slot and completes.
        done = run_dg("launch", "--assets", "raw_pos", env=env, timeout=WAIT)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "RUN_SUCCESS" in done.stdout + done.stderr
    finally:
        _kill_group(daemon)
