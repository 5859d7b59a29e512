"""Crash-safe record of a run: a plan written before sending, outcomes appended per batch.

Per run, `<journal dir>/<run_id>/`:
- `plan.parquet`: every value the run will send with the index of its object (written to a temp
  name, fsync'd, then renamed, before the first request);
- `outcomes.jsonl`: one line per finished batch (object indices with status and reason, HTTP
  status, attempts, timing), appended by the client's `on_batch` callback. Each line is written
  and flushed at once, so it survives a killed process; it is fsync'd at most every
  `fsync_interval_ms` (and at close), bounding what a power loss can lose.

`fold_run` turns the journal into braze_sync_results, braze_confirmed_state (delivered rows
only), braze_sync_rejections and the run's totals in ONE DuckDB transaction that also marks the
run folded, so a crash during or after folding never applies a journal twice. A torn last line
(the process died mid-write) is a batch in flight: it is ignored and its values are resent.

A journal damaged otherwise (a file cut short by a full disk or a bad copy, a garbled line) loses
nothing either: a line that does not parse is skipped and its objects stay unconfirmed, so the
next sync resends them; a plan that cannot be read confirms nothing, and the run's directory is
moved to `<journal dir>/../_damaged/<destination>/` for inspection. Each is reported in the notes
the fold returns, so the run that folds it says what it did.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from pathlib import Path

import duckdb
import orjson
import polars as pl

from braze_assets.sync.tables import CONFIRMED, KEY_ID_SQL, REJECTIONS, RESULTS, RUNS
from braze_assets.warehouse import transaction

PLAN_FILE = "plan.parquet"
OUTCOMES_FILE = "outcomes.jsonl"
_STATUS_CODES = {"delivered": "d", "rejected": "r", "not_delivered": "n"}
_STATUS_NAMES = {v: k for k, v in _STATUS_CODES.items()}
PLAN_SCHEMA = {
    "obj_idx": pl.Int64,
    "identifier": pl.String,
    "attribute": pl.String,
    "element": pl.String,
    "kind": pl.String,
    "billable": pl.Boolean,
    "op": pl.String,
    "value_json": pl.String,
    "value_hash": pl.UInt64,
}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_plan(run_dir: Path, plan: pl.DataFrame) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (PLAN_FILE + ".tmp")
    plan.cast(PLAN_SCHEMA).write_parquet(tmp, compression="zstd", statistics=False)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, run_dir / PLAN_FILE)
    _fsync_dir(run_dir)
    _fsync_dir(run_dir.parent)


class OutcomeJournal:
    """Append-only per-batch outcomes; `record` is the client's on_batch callback."""

    def __init__(self, run_dir: Path, fsync_interval_ms: int = 100):
        self.path = run_dir / OUTCOMES_FILE
        self._file = open(self.path, "ab", buffering=0)
        self._interval = fsync_interval_ms / 1000.0
        self._last_sync = 0.0
        self._lock = threading.Lock()
        self.batches = 0
        self.counts = {"delivered": 0, "rejected": 0, "not_delivered": 0}

    def record(self, batch) -> None:
        sent_at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
        line = (
            orjson.dumps(
                {
                    "b": batch.batch_no,
                    "h": batch.http_status,
                    "a": batch.attempts,
                    "ms": round(batch.elapsed_ms, 3),
                    "t": sent_at,
                    "o": [[o.index, _STATUS_CODES[o.status], o.reason] for o in batch.outcomes],
                }
            )
            + b"\n"
        )
        with self._lock:
            # One unbuffered write per line: a killed process leaves whole lines or a torn tail.
            self._file.write(line)
            now = time.monotonic()
            if now - self._last_sync >= self._interval:
                os.fsync(self._file.fileno())
                self._last_sync = now
            self.batches += 1
            for o in batch.outcomes:
                self.counts[o.status] += 1

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                os.fsync(self._file.fileno())
                self._file.close()


DAMAGED_DIR = "_damaged"


def read_outcomes(run_dir: Path, notes: list[str] | None = None) -> pl.DataFrame:
    """Per-object outcomes of the journal. A line that does not parse (torn by a kill, cut
    short, garbled) is skipped; `notes` gets one line saying which and what follows from it."""
    rows: dict[str, list] = {
        k: []
        for k in (
            "obj_idx",
            "status",
            "reason",
            "batch_no",
            "http_status",
            "attempts",
            "elapsed_ms",
            "sent_at",
        )
    }
    path = run_dir / OUTCOMES_FILE
    bad: list[int] = []
    lines: list[bytes] = []
    if path.exists():
        lines = path.read_bytes().split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            try:
                entry = orjson.loads(line)
                sent_at = dt.datetime.fromisoformat(entry["t"])
                objects = [(int(i), _STATUS_NAMES[s], r) for i, s, r in entry["o"]]
                batch = (int(entry["b"]), entry["h"], int(entry["a"]), float(entry["ms"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                bad.append(number)  # e.g. the batch whose line was being written at a kill
                continue
            for index, status, reason in objects:
                rows["obj_idx"].append(index)
                rows["status"].append(status)
                rows["reason"].append(reason)
                rows["batch_no"].append(batch[0])
                rows["http_status"].append(batch[1])
                rows["attempts"].append(batch[2])
                rows["elapsed_ms"].append(batch[3])
                rows["sent_at"].append(sent_at)
    if bad and notes is not None:
        tail = bad == [len(lines)] and bool(lines[-1])
        what = (
            f"its last record (line {bad[0]}) was cut mid-write"
            if tail
            else f"{len(bad)} record(s) could not be read (line(s) {', '.join(map(str, bad[:5]))})"
        )
        notes.append(
            f"journal {path}: {what}; skipped: the objects of those batches are not confirmed "
            "and are sent again"
        )
    return pl.DataFrame(
        rows,
        schema={
            "obj_idx": pl.Int64,
            "status": pl.String,
            "reason": pl.String,
            "batch_no": pl.Int32,
            "http_status": pl.Int32,
            "attempts": pl.Int32,
            "elapsed_ms": pl.Float64,
            "sent_at": pl.Datetime("us"),
        },
    ).unique("obj_idx", keep="last", maintain_order=True)


def pending_runs(journal_dir: Path) -> list[Path]:
    """Run directories left by earlier runs of this destination, oldest first."""
    if not journal_dir.exists():
        return []
    return sorted(p for p in journal_dir.iterdir() if p.is_dir())


def fold_run(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    destination: str,
    *,
    status: str | None = None,
    message: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, int] | None:
    """Apply one run's journal to the warehouse (idempotent) and delete the journal directory.

    `status` is the outcome known by the run itself; a journal folded by a later run (the process
    died) is 'interrupted' when some objects never got an answer. Returns the run's object counts, or None when there was nothing to fold. A run found without a
    plan never sent anything (it died before the plan was complete).
    """
    run_id = run_dir.name
    plan_path = run_dir / PLAN_FILE
    already = con.execute(f"SELECT folded FROM {RUNS} WHERE run_id = ?", [run_id]).fetchone()
    if not plan_path.exists() or (already is not None and already[0]):
        if already is not None and not already[0]:
            con.execute(
                f"UPDATE {RUNS} SET status = 'interrupted', folded = true, message = ? WHERE run_id = ?",
                ["stopped before sending anything", run_id],
            )
        shutil.rmtree(run_dir, ignore_errors=True)
        return None
    try:
        plan = pl.read_parquet(plan_path)
    except Exception as exc:  # polars raises several kinds for a cut or garbled file
        _set_aside(con, run_dir, destination, exc, notes)
        return None
    outcomes = read_outcomes(run_dir, notes)
    sent = plan.join(outcomes, on="obj_idx", how="inner")
    objects = plan["obj_idx"].n_unique()
    con.register("_fold_sent", sent)
    try:
        with transaction(con):
            counts = _apply(con, run_id, destination, objects)
            interrupted = counts["objects_unsent"] > 0 and status is None
            con.execute(
                f"""UPDATE {RUNS} SET status = ?, folded = true, finished_at = coalesce(finished_at, ?),
                        message = coalesce(?, message),
                        objects_delivered = ?, objects_rejected = ?, objects_not_delivered = ?,
                        objects_unsent = ?, data_points_spent = ?, batches = ?
                    WHERE run_id = ?""",
                [
                    status or ("interrupted" if interrupted else "completed"),
                    _now(),
                    message
                    or (
                        "the process stopped mid-run; unsent values are pending"
                        if interrupted
                        else None
                    ),
                    counts["objects_delivered"],
                    counts["objects_rejected"],
                    counts["objects_not_delivered"],
                    counts["objects_unsent"],
                    counts["data_points_spent"],
                    counts["batches"],
                    run_id,
                ],
            )
    finally:
        con.unregister("_fold_sent")
    shutil.rmtree(run_dir, ignore_errors=True)
    return counts


def _set_aside(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    destination: str,
    error: Exception,
    notes: list[str] | None,
) -> None:
    """A plan that cannot be read: confirm nothing of the run (so everything it sent is sent
    again) and move its journal out of the way, kept for inspection."""
    run_id = run_dir.name
    target = run_dir.parent.parent / DAMAGED_DIR / destination / run_id
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(run_dir), target)
    reason = " ".join(str(error).split())[:200]
    note = (
        f"journal of run {run_id}: its plan {run_dir / PLAN_FILE} cannot be read ({reason}); nothing "
        f"it sent is confirmed, so its values are sent again; the journal was moved to {target}"
    )
    con.execute(
        f"UPDATE {RUNS} SET status = 'interrupted', folded = true, message = ? WHERE run_id = ?",
        [note, run_id],
    )
    if notes is not None:
        notes.append(note)


def _apply(
    con: duckdb.DuckDBPyConnection, run_id: str, destination: str, objects: int
) -> dict[str, int]:
    con.execute(f"DELETE FROM {RESULTS} WHERE run_id = ?", [run_id])
    con.execute(
        f"""INSERT INTO {RESULTS}
        SELECT ?, ?, any_value(batch_no), obj_idx, any_value(identifier), list(DISTINCT attribute ORDER BY attribute),
               sum(billable::INTEGER), any_value(status), any_value(reason), any_value(http_status),
               any_value(attempts), any_value(elapsed_ms), any_value(sent_at)
        FROM _fold_sent GROUP BY obj_idx""",
        [run_id, destination],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fold_rows AS
        SELECT *, {KEY_ID_SQL} AS key_id FROM _fold_sent WHERE status IN ('delivered', 'rejected')"""
    )
    con.execute(
        f"""DELETE FROM {CONFIRMED} c USING (SELECT key_id FROM _fold_rows WHERE status = 'delivered') s
            WHERE c.destination = ? AND c.key_id = s.key_id""",
        [destination],
    )
    con.execute(
        f"""INSERT INTO {CONFIRMED}
        SELECT ?, identifier, attribute, element, key_id, kind, billable, value_json, value_hash, sent_at, ?
        FROM _fold_rows WHERE status = 'delivered' AND op IN ('add', 'change', 'join')""",
        [destination, run_id],
    )
    # A delivered or re-rejected value ends its earlier rejection; a rejection holds back only
    # this exact value (hash), so a new intended value is tried again.
    # The first rejection's time survives re-rejections (it bounds the unknown-user retries).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _fold_first AS
        SELECT c.key_id, min(coalesce(c.first_rejected_at, c.rejected_at)) AS first_at
        FROM {REJECTIONS} c SEMI JOIN _fold_rows s ON s.key_id = c.key_id AND s.status = 'rejected'
        WHERE c.destination = ? GROUP BY 1""",
        [destination],
    )
    con.execute(
        f"""DELETE FROM {REJECTIONS} c USING _fold_rows s WHERE c.destination = ? AND c.key_id = s.key_id""",
        [destination],
    )
    con.execute(
        f"""INSERT INTO {REJECTIONS} (destination, identifier, attribute, element, key_id, op, value_json,
                value_hash, reason, run_id, rejected_at, first_rejected_at)
        SELECT ?, r.identifier, r.attribute, r.element, r.key_id, r.op, r.value_json, r.value_hash, r.reason, ?,
               r.sent_at, coalesce(f.first_at, r.sent_at)
        FROM _fold_rows r LEFT JOIN _fold_first f USING (key_id) WHERE r.status = 'rejected'""",
        [destination, run_id],
    )
    con.execute("DROP TABLE _fold_first")
    row = con.execute(
        """SELECT count(DISTINCT obj_idx) FILTER (WHERE status = 'delivered'),
                  count(DISTINCT obj_idx) FILTER (WHERE status = 'rejected'),
                  count(DISTINCT obj_idx) FILTER (WHERE status = 'not_delivered'),
                  count(DISTINCT obj_idx),
                  coalesce(sum(billable::INTEGER) FILTER (WHERE status = 'delivered'), 0),
                  count(DISTINCT batch_no)
           FROM _fold_sent"""
    ).fetchone()
    con.execute("DROP TABLE _fold_rows")
    delivered, rejected, not_delivered, sent_objects, points, batches = (int(v) for v in row)
    return {
        "objects_delivered": delivered,
        "objects_rejected": rejected,
        "objects_not_delivered": not_delivered,
        "objects_unsent": objects - sent_objects,
        "data_points_spent": points,
        "batches": batches,
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
