"""`braze-assets status` after runs that stopped: every row Braze has not confirmed is counted,
sent or not, and the run that stopped is named. Real runs against the sandbox over HTTP, read back
through the CLI."""

from __future__ import annotations

import re

import pytest

from braze_assets.braze.client import BrazeError
from braze_assets.sandbox import DEFAULT_API_KEY, FaultConfig
from braze_assets_tests.conftest import cli_env, run_cli
from braze_assets_tests.faults.conftest import (
    confirmed,
    data_dir_with_snapshot,
    kill_sync_mid_run,
    run_sync,
)

pytestmark = pytest.mark.integration


def _status(data_dir) -> str:
    result = run_cli("status", env=cli_env(data_dir), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _count(text: str, label: str) -> int:
    match = re.search(rf"{re.escape(label)}:?\s+([\d,]+)", text)
    assert match, f"{label!r} not in:\n{text}"
    return int(match.group(1).replace(",", ""))


def test_status_after_a_401_counts_every_row_never_delivered(tmp_path, sandbox):
    n = 300
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    # A wrong key: the first batch is answered 401 and the run stops; 290 rows were never sent,
    # and only the 10 of the failed batch have result rows.
    with pytest.raises(BrazeError, match="401"):
        run_sync(data_dir, sandbox.url, "not-the-key", concurrency=1, objects_per_request=10)
    text = _status(data_dir)
    assert "destination braze_us" in text
    assert re.search(rf"{n:,} profiles \({n:,} values\) not confirmed by Braze", text), text
    assert _count(text, "failed (sent, not delivered)") == 10
    assert _count(text, "never sent") == n - 10
    assert "401 Unauthorized" in text  # the sync run's reason
    assert "not-the-key" not in text

    run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert len(confirmed(data_dir)) == n and sandbox.stats()["profiles"] == n
    assert re.search(r" 0 profiles \(0 values\) not confirmed", _status(data_dir))


def test_status_after_a_killed_sync_shows_its_journal_and_pending_rows(tmp_path, sandbox):
    n = 3000
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    run_id = kill_sync_mid_run(data_dir, sandbox).name

    text = _status(data_dir)
    # The killed run: still 'running' in the warehouse, its journal not folded.
    assert re.search(rf"{run_id}\s+\S+ \S+\s+running", text), text
    assert f"journal of run {run_id} (killed or still sending" in text, text
    accepted = _count(text, "accepted by Braze but not folded yet")
    assert 0 < accepted < n
    # Nothing is confirmed yet; everything but what Braze accepted is outstanding.
    assert re.search(rf"{n - accepted:,} profiles \({n - accepted:,} values\) not confirmed", text)
    assert (
        _count(text, "never sent")
        + _count(text, "sent, never answered")
        + _count(text, "failed (sent, not delivered)")
        == n - accepted
    )

    report = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert report.recovered_runs == [run_id] and report.diff.objects == n - accepted
    assert len(confirmed(data_dir)) == n
    after = _status(data_dir)
    assert re.search(rf"{run_id}\s+\S+ \S+\s+interrupted", after), after
    assert re.search(r" 0 profiles \(0 values\) not confirmed", after), after


def test_a_run_whose_batches_partly_fail_says_so(tmp_path, sandbox):
    """One batch answered 400, the others delivered: before, the run was recorded as a plain
    'completed' success; now it is 'partial' with the reason, and status counts the rows."""
    n = 50
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    sandbox.set_faults(FaultConfig(next_statuses=[400]))
    report = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY, concurrency=1, objects_per_request=10)
    assert report.status == "partial"
    assert report.objects_delivered == n - 10 and report.objects_not_delivered == 10
    assert "10 of 50 objects not delivered, e.g. HTTP 400" in report.message

    text = _status(data_dir)
    assert re.search(rf"{report.run_id}\s+\S+ \S+\s+partial", text), text
    assert "10 of 50 objects not delivered" in text
    assert _count(text, "failed (sent, not delivered)") == 10
    assert _count(text, "never sent") == 0

    again = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert again.status == "completed" and again.objects_delivered == 10
    assert len(confirmed(data_dir)) == n
