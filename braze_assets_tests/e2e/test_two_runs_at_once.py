"""Two runs launched at once over overlapping assets, on a real instance with `dagster-daemon run`:
a run the daemon launches from its queue (what the automation, a schedule or the UI's Materialize
does) and a `dg launch --assets` run in a terminal. DuckDB takes one writer, so they share the
`duckdb_warehouse` pool slot: each must complete in turn (or stop with a clear message), and the
warehouse must end as one clean run of the same assets leaves it."""

from __future__ import annotations

import shutil
import time

import duckdb
import pytest

from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets_tests.conftest import cli_env, run_dg
from braze_assets_tests.e2e.test_killed_runs import (
    BIN,
    DAEMON_ARGS,
    _instance,
    _kill_group,
    _start,
    prepared_data_dir,
    queue_job,
)

pytestmark = pytest.mark.slow

TABLES = ("raw_ecommerce", "raw_loyalty", "raw_pos", "raw_email_list", "customer_360")


def _counts(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _runs(home):
    with _instance(home) as instance:
        return instance.get_runs()


def _state(home, *logs) -> str:
    """What the runs and the pool slot were doing, for a failure message."""
    lines = []
    with _instance(home) as instance:
        for run in instance.get_runs():
            lines.append(f"{run.job_name} {run.run_id[:8]} {run.status.value}")
            for entry in instance.all_logs(run.run_id)[-5:]:
                lines.append(f"    {(entry.message or entry.user_message or '')[:300]}")
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        lines.append(f"claimed: {[(c.run_id[:8], c.step_key) for c in info.claimed_slots]}")
        lines.append(f"pending: {[(c.run_id[:8], c.step_key) for c in info.pending_steps]}")
    for log in logs:
        lines.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
    return "\n".join(lines)


def test_a_daemon_run_and_a_dg_launch_run_at_once_both_complete_and_lose_nothing(tmp_path):
    data_dir, home, env = prepared_data_dir(tmp_path, 600)
    daemon_log = tmp_path / "daemon.log"
    daemon = _start(DAEMON_ARGS, env, daemon_log)
    try:
        queue_job("customer_360_refresh", env)
        # The terminal run of the raw sources starts while the daemon's run is starting or running.
        terminal_log = tmp_path / "dg_launch.log"
        terminal = _start(
            [str(BIN / "dg"), "launch", "--assets", "raw_ecommerce,raw_loyalty,raw_pos"],
            env,
            terminal_log,
        )
        # Each may wait for the slot the other holds; a guard against a hang, not a timing goal.
        deadline = time.monotonic() + 1500
        while terminal.poll() is None or not (
            len(_runs(home)) == 2 and all(r.is_finished for r in _runs(home))
        ):
            assert time.monotonic() < deadline, _state(home, terminal_log, daemon_log)
            time.sleep(1)
        assert terminal.returncode == 0, _state(home, terminal_log, daemon_log)
    finally:
        _kill_group(daemon)

    runs = _runs(home)
    assert [r.status.value for r in runs] == ["SUCCESS", "SUCCESS"], [
        (r.job_name, r.status.value) for r in runs
    ]
    # The daemon's run did start before the terminal's finished: they did overlap.
    with _instance(home) as instance:
        stats = {r.job_name: instance.get_run_stats(r.run_id) for r in runs}
    daemon_run = next(s for name, s in stats.items() if name == "customer_360_refresh")
    terminal_run = next(s for name, s in stats.items() if name != "customer_360_refresh")
    assert daemon_run.start_time < terminal_run.end_time

    # Nothing lost: a clean run of the daemon's job over the same files gives the same tables.
    at_once = _counts(data_dir / "warehouse.duckdb")
    clean_dir = tmp_path / "clean"
    shutil.copytree(
        data_dir, clean_dir, ignore=shutil.ignore_patterns("warehouse.duckdb*", "dagster_home")
    )
    (clean_dir / "dagster_home").mkdir()
    clean = run_dg("launch", "--job", "customer_360_refresh", env=cli_env(clean_dir))
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
    assert at_once == _counts(clean_dir / "warehouse.duckdb")
    assert all(at_once[t] > 0 for t in TABLES), at_once
