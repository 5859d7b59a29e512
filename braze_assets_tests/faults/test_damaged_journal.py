"""A sync journal damaged after a kill (a file cut short by a full disk or a bad copy): the next
sync says what it did with it and loses nothing. Before, a cut outcomes file was skipped without
a word, and a cut plan made every later sync of the destination fail."""

from __future__ import annotations

import pytest

from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.journal import OUTCOMES_FILE, PLAN_FILE
from braze_assets_tests.faults.conftest import (
    confirmed,
    data_dir_with_snapshot,
    ids,
    kill_sync_mid_run,
    run_sync,
)

pytestmark = pytest.mark.integration


def _cut_mid_record(path) -> None:
    """Truncate inside the second line: the first record survives, the rest is gone."""
    data = path.read_bytes()
    first_end = data.index(b"\n") + 1
    second_end = data.index(b"\n", first_end)
    path.write_bytes(data[: (first_end + second_end) // 2])


@pytest.mark.parametrize("damaged", [OUTCOMES_FILE, PLAN_FILE])
def test_a_cut_journal_file_is_reported_and_nothing_is_lost(tmp_path, sandbox, damaged):
    n = 3000
    data_dir = data_dir_with_snapshot(tmp_path, n, sandbox)
    run_dir = kill_sync_mid_run(data_dir, sandbox)
    target = run_dir / damaged
    if damaged == OUTCOMES_FILE:
        _cut_mid_record(target)
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])

    report = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    (note,) = report.recovery_notes
    assert str(target) in note and "sent again" in note, note
    if damaged == OUTCOMES_FILE:
        assert "cut mid-write" in note
        # The one readable record is confirmed; everything else is sent again.
        assert report.recovered_runs == [run_dir.name]
    else:
        assert "cannot be read" in note and "_damaged" in note
        assert report.diff.objects == n  # nothing of the killed run is taken as confirmed
        assert (data_dir / "sync_journal" / "_damaged" / "braze_us" / run_dir.name).is_dir()
    assert not run_dir.exists()
    # Nothing lost: every value is confirmed and Braze holds every profile with its value.
    assert confirmed(data_dir) == {u: str(i) for i, u in enumerate(ids(n))}
    assert {p["external_id"]: p["custom_attributes"]["v"] for p in sandbox.profiles()} == {
        u: i for i, u in enumerate(ids(n))
    }
    # The next run has nothing left to send and nothing more to say.
    again = run_sync(data_dir, sandbox.url, DEFAULT_API_KEY)
    assert again.diff.objects == 0 and again.recovery_notes == []
