"""Journal folding is idempotent and tolerates a torn last line (a batch in flight at a crash)."""

from __future__ import annotations

import shutil

from braze_assets.sync.journal import OUTCOMES_FILE, fold_run, read_outcomes
from braze_assets.sync.runner import recover
from braze_assets_tests.sync.conftest import DAY1, put_snapshot, sync_us, value
from braze_assets_tests.sync.fakes import FakeClient


class CopyingClient(FakeClient):
    """Keeps a copy of the run's journal as it was before the fold, like a crash right after it."""

    def __init__(self, journal_root, **kw):
        super().__init__(**kw)
        self.journal_root = journal_root

    def track_attributes(self, objects, *, on_batch=None):
        result = super().track_attributes(objects, on_batch=on_batch)
        run_dir = next((self.journal_root / "braze_us").iterdir())
        shutil.copytree(run_dir, self.journal_root / "saved" / run_dir.name)
        return result


def state(con):
    return (
        con.execute(
            "SELECT identifier, value_json FROM braze_confirmed_state ORDER BY 1"
        ).fetchall(),
        con.execute("SELECT count(*) FROM braze_sync_results").fetchone()[0],
    )


def sync(con, tmp_path, client):
    return sync_us(con, client, tmp_path / "journal")


def test_folding_twice_changes_nothing(con, tmp_path):
    put_snapshot(con, DAY1, [value(f"u{i}", "tier", f'"{i}"') for i in range(5)])
    journal_root = tmp_path / "journal"
    sync(con, tmp_path, CopyingClient(journal_root))
    before = state(con)
    saved = next((journal_root / "saved").iterdir())
    shutil.move(
        saved, journal_root / "braze_us" / saved.name
    )  # the rmtree after commit never happened
    assert recover(con, journal_root, "braze_us") == []
    assert state(con) == before and not (journal_root / "braze_us" / saved.name).exists()


def test_torn_last_line_is_a_batch_in_flight(con, tmp_path):
    put_snapshot(con, DAY1, [value(f"u{i}", "tier", f'"{i}"') for i in range(6)])
    journal_root = tmp_path / "journal"
    sync(con, tmp_path, CopyingClient(journal_root, batch_size=2))
    saved = next((journal_root / "saved").iterdir())
    lines = (saved / OUTCOMES_FILE).read_bytes().split(b"\n")
    (saved / OUTCOMES_FILE).write_bytes(b"\n".join(lines[:1]) + b"\n" + lines[1][:17])
    assert sorted(read_outcomes(saved)["obj_idx"].to_list()) == [0, 1]
    # Replay as a fresh warehouse that only ever saw this journal: 2 objects confirmed, 4 pending.
    con.execute("DELETE FROM braze_confirmed_state; DELETE FROM braze_sync_results")
    con.execute("UPDATE braze_sync_runs SET folded = false")
    counts = fold_run(con, saved, "braze_us")
    assert counts["objects_delivered"] == 2 and counts["objects_unsent"] == 4
    client = FakeClient()
    report = sync(con, tmp_path, client)
    assert [o["external_id"] for o in client.sent] == [
        "u2",
        "u3",
        "u4",
        "u5",
    ] and report.objects_delivered == 4
