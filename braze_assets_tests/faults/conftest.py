"""Helpers for the fault tests: a data dir whose warehouse holds one destination's snapshot, and
syncs of it against real local servers (the sandbox, or a stand-in that misbehaves)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import FaultConfig, SandboxServer
from braze_assets.settings import PROJECT_DIR
from braze_assets.sync.tables import ensure_tables
from braze_assets_tests.sync.conftest import DAY1, put_snapshot, sync_us, value

DESTINATION = "braze_us"


def ids(n: int) -> list[str]:
    return [f"u{i:05d}" for i in range(n)]


def data_dir_with_snapshot(tmp_path: Path, n: int, sandbox: SandboxServer) -> Path:
    """A data dir as the CLI sees it: warehouse.duckdb with `n` profiles of one billable value each,
    the profiles' users already in the `sandbox`."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        ensure_tables(con)
        put_snapshot(con, DAY1, [value(u, "v", str(i), "integer") for i, u in enumerate(ids(n))])
    sandbox.seed_users(ids(n))
    return data_dir


def run_sync(data_dir: Path, url: str, api_key: str, **client_settings):
    with (
        duckdb.connect(str(data_dir / "warehouse.duckdb")) as con,
        BrazeClient(api_key, url, **client_settings) as client,
    ):
        return sync_us(
            con,
            client,
            data_dir / "sync_journal",
            destination=DESTINATION,
            journal_fsync_interval_ms=0,
        )


def sync_child_command(data_dir: Path, url: str, concurrency: int, per_request: int) -> list[str]:
    """The command line of faults/sync_child.py: one sync of `data_dir` in its own process, ending
    the way the CLI does."""
    return [
        sys.executable,
        "-m",
        "braze_assets_tests.faults.sync_child",
        str(data_dir),
        url,
        str(concurrency),
        str(per_request),
    ]


def confirmed(data_dir: Path) -> dict[str, str]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return dict(
            con.execute("SELECT identifier, value_json FROM braze_confirmed_state").fetchall()
        )


def kill_sync_mid_run(data_dir: Path, sandbox, min_batches: int = 4) -> Path:
    """Start the destination's sync in a child process against the (slowed) sandbox and SIGKILL
    it once `min_batches` outcomes are journaled; return the killed run's journal directory."""
    journal_root = data_dir / "sync_journal"
    sandbox.set_faults(FaultConfig(latency_ms=20))
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "braze_assets_tests.sync.sync_child",
            str(data_dir / "warehouse.duckdb"),
            str(journal_root),
            sandbox.url,
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    deadline = time.monotonic() + 60
    files: list[Path] = []
    while time.monotonic() < deadline and child.poll() is None:
        files = list(journal_root.glob(f"{DESTINATION}/*/outcomes.jsonl"))
        if files and files[0].read_bytes().count(b"\n") >= min_batches:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    sandbox.set_faults(FaultConfig())
    assert child.returncode == -signal.SIGKILL, "the sync ended before it could be killed"
    assert files, "the sync never journaled a batch"
    return files[0].parent
