"""The disk fills while the sync writes the warehouse, after Braze accepted every batch: the
process ends with one line naming the file, nothing Braze accepted is lost or sent twice, and
the rerun once there is space confirms it all.

The full disk is a file size limit (RLIMIT_FSIZE, what `ulimit -f` sets) on the sync's process:
it needs no root and no mount, and DuckDB meets the same failed write. Before the fix DuckDB's
own rollback of the failed commit was reported instead ("cannot rollback - no transaction is
active", with a traceback) and hid the cause."""

from __future__ import annotations

import resource
import subprocess

import pytest

from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.settings import PROJECT_DIR
from braze_assets_tests.faults.conftest import (
    confirmed,
    data_dir_with_snapshot,
    ids,
    run_sync,
    sync_child_command,
)

pytestmark = pytest.mark.integration

# Room for the sync's plan and journal files (~50 KB for 3,000 objects), not for the
# warehouse WAL of folding 3,000 results into the warehouse (~600 KB).
FILE_SIZE_LIMIT = 300 * 1024


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_disk_full_while_folding_loses_nothing_and_the_rerun_completes(tmp_path, sandbox):
    n = 3000
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    child = subprocess.run(
        sync_child_command(data_dir, sandbox.url, 4, 75),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert child.returncode == 2, child.stderr
    assert "Traceback" not in child.stderr
    (line,) = child.stderr.strip().splitlines()
    wal = data_dir / "warehouse.duckdb.wal"
    assert f"the disk is full: could not write {wal}" in line and "run again" in line, line
    # Braze accepted every batch; the warehouse could not record it, the journal did.
    assert sandbox.data_points_spent() == n
    assert confirmed(data_dir) == {}
    assert list((data_dir / "sync_journal" / "braze_us").iterdir())

    report = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert len(report.recovered_runs) == 1 and report.diff.objects == 0
    assert confirmed(data_dir) == {u: str(i) for i, u in enumerate(ids(n))}
    assert sandbox.data_points_spent() == n  # nothing sent twice
