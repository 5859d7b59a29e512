"""One destination's sync run: recover, diff, forecast, budget, send, record.

1. Take the destination's lock file (one run at a time; released by the OS if the process dies).
2. Fold journals left by earlier runs (a killed run's delivered batches become confirmed).
3. Diff today's snapshot against confirmed state -> `_sync_changes`.
4. Forecast billable data points; stop over budget unless overridden. A dry run stops here,
   with counts and sample payloads.
5. Record the run, write the plan, send through the client with the journal as `on_batch`.
   Riders (the run's order events) share the requests: attributes, events and purchases are
   packed together, at most objects_per_request objects per request across the three, and
   their data points count in the forecast and the budget.
6. Fold this run's journal in one transaction (also after an error or interrupt).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.diff import CHANGES, DiffCounts, compute_changes, latest_snapshot_date
from braze_assets.sync.journal import (
    PLAN_SCHEMA,
    OutcomeJournal,
    fold_run,
    pending_runs,
    write_plan,
)
from braze_assets.sync.payloads import build_rows, sample_json
from braze_assets.sync.tables import RESULTS, RUNS, ensure_tables

_LOG = logging.getLogger("braze_assets.sync")


class SyncBlocked(RuntimeError):
    """The run did not send: over budget, or another run of the destination holds the lock."""


class SyncFailed(RuntimeError):
    """The run sent but Braze accepted nothing: every batch failed. The message is one line
    saying why (the first batch's reason); the rows stay pending for the next run."""


@dataclass
class SyncReport:
    run_id: str
    destination: str
    snapshot_date: dt.date | None
    dry_run: bool
    status: str
    diff: DiffCounts
    data_point_budget: int | None
    over_budget: bool
    objects_delivered: int = 0
    objects_rejected: int = 0
    objects_not_delivered: int = 0
    objects_unsent: int = 0
    data_points_spent: int = 0
    batches: int = 0
    duration_s: float = 0.0
    samples: list[str] = field(default_factory=list)
    recovered_runs: list[str] = field(default_factory=list)
    message: str | None = None
    full_resync: bool = False
    # What the recovery did with a damaged journal of an earlier run (one line each).
    recovery_notes: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """Numbers for Dagster run metadata (plotted over time in the UI)."""
        return {
            "rows_changed": self.diff.values,
            "objects": self.diff.objects,
            "adds": self.diff.adds,
            "changes": self.diff.changes,
            "removes": self.diff.removes,
            "joins": self.diff.joins,
            "leaves": self.diff.leaves,
            "held_back_rejected": self.diff.held_back,
            "deferred": self.diff.deferred,
            "retried_unknown_users": self.diff.retried_unknown,
            "forecast_data_points": self.diff.forecast_data_points,
            "delivered": self.objects_delivered,
            "rejected": self.objects_rejected,
            "not_delivered": self.objects_not_delivered,
            "unsent": self.objects_unsent,
            "data_points_spent": self.data_points_spent,
            "batches": self.batches,
            "duration_s": round(self.duration_s, 3),
        }


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(3)


@contextmanager
def destination_lock(journal_root: Path, destination: str) -> Iterator[None]:
    journal_root.mkdir(parents=True, exist_ok=True)
    with open(journal_root / f"{destination}.lock", "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBlocked(
                f"another sync of destination {destination!r} is running (lock {handle.name})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def recover(
    con: duckdb.DuckDBPyConnection,
    journal_root: Path,
    destination: str,
    notes: list[str] | None = None,
) -> list[str]:
    """Fold every journal an earlier run left behind; return their run ids. What was done with a
    damaged journal goes to `notes`."""
    ensure_tables(con)
    folded = []
    for run_dir in pending_runs(journal_root / destination):
        if fold_run(con, run_dir, destination, notes=notes) is not None:
            folded.append(run_dir.name)
    # A run row still 'running' with no journal died before writing its plan: it sent nothing.
    con.execute(
        f"""UPDATE {RUNS} SET status = 'interrupted', folded = true, message = 'stopped before sending anything'
            WHERE destination = ? AND NOT folded""",
        [destination],
    )
    return folded


def sync_destination(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    clear_attributes: Iterable[str],
    settings: ResolvedSyncSettings,
    journal_root: Path,
    snapshot_date: dt.date | None = None,
    dry_run: bool = False,
    run_id: str | None = None,
    logger: logging.Logger | None = None,
    riders=None,
    diff_engine: Callable[[duckdb.DuckDBPyConnection], Any] | None = None,
) -> SyncReport:
    """Send `destination`'s changed values through `client.track_attributes`; see module doc.

    `diff_engine(con)`, called after the recovery, returns the Engine the diff runs on (Spark
    mode: with the confirmed state and rejections the recovery settled in `con` readable there);
    by default the diff runs on `con`. Only its changes come back, as polars.

    `riders` (e.g. lifecycle.orders.OrderRiders): objects of other arrays sent in the same
    requests, with `rows`, `arrays`-compatible `array`, `data_points`, `before_send()` (durable
    before any request) and `after_send(outcomes)`."""
    log = logger or _LOG
    started = time.perf_counter()
    run_id = run_id or new_run_id()
    with destination_lock(journal_root, destination):
        notes: list[str] = []
        recovered = recover(con, journal_root, destination, notes)
        if recovered:
            log.info(
                "sync %s: folded journals of earlier runs %s", destination, ", ".join(recovered)
            )
        for note in notes:
            log.warning("sync %s: %s", destination, note)
        snapshot_date = snapshot_date or latest_snapshot_date(con, destination)
        if snapshot_date is None:
            raise ValueError(
                f"destination {destination!r} has no attribute_snapshots rows: build the snapshot first"
            )
        engine = as_engine(con if diff_engine is None else diff_engine(con))
        counts = compute_changes(
            engine,
            destination,
            snapshot_date,
            clear_attributes=clear_attributes,
            float_tolerance=settings.float_tolerance,
            full_resync=settings.full_resync,
            max_objects=settings.max_objects_per_run,
            memory_limit=settings.diff_memory_limit,
            retry_unknown_every_days=settings.retry_unknown_every_days,
            retry_unknown_for_days=settings.retry_unknown_for_days,
        )
        budget = settings.data_point_budget
        rider_points = riders.data_points if riders is not None else 0
        forecast = counts.forecast_data_points + rider_points
        over = budget is not None and forecast > budget
        report = SyncReport(
            run_id,
            destination,
            snapshot_date,
            dry_run,
            "planned",
            counts,
            budget,
            over,
            recovered_runs=recovered,
            full_resync=settings.full_resync,
            recovery_notes=notes,
        )
        # A dry run reads only the sample objects: the preview of a full resync stays cheap.
        limit = f"WHERE obj_idx < {int(settings.dry_run_sample_size)}" if dry_run else ""
        changes = pl.from_arrow(
            engine.read_arrow(
                f"SELECT * FROM {CHANGES} {limit} ORDER BY obj_idx, attribute, element"
            )
        ).cast(PLAN_SCHEMA)
        engine.drop_temp(CHANGES)
        if dry_run:
            report.samples = sample_json(
                build_rows(changes, identifier_type, settings.update_existing_only),
                settings.dry_run_sample_size,
            )
            report.status = "dry_run"
            report.duration_s = time.perf_counter() - started
            return report
        if over and not settings.override_budget:
            report.status = "budget_exceeded"
            report.message = (
                f"sync of {destination!r} stopped before sending: it would spend {forecast:,} "
                f"data points ({counts.values:,} values in {counts.objects:,} profiles: {counts.adds:,} adds, "
                f"{counts.changes:,} changes, {counts.removes:,} removes, {counts.joins:,} joins, "
                f"{counts.leaves:,} leaves"
                + (f"; {rider_points:,} for {len(riders.rows):,} events" if rider_points else "")
                + f"), over the budget of {budget:,} per run. Check the mapping or "
                "audience change behind it; to send anyway, run once with override_budget: true."
            )
            _record_run(con, report, started_at=_now(), folded=True)
            raise SyncBlocked(report.message)
        if counts.objects == 0 and not (riders is not None and riders.rows):
            report.status = "completed"
            report.duration_s = time.perf_counter() - started
            _record_run(con, report, started_at=_now(), folded=True, finished=True)
            _prune_results(con, settings.results_retention_days)
            return report
        return _send(
            con,
            client,
            report,
            changes,
            identifier_type,
            settings,
            journal_root,
            started,
            log,
            riders,
        )


def _send(
    con,
    client,
    report: SyncReport,
    changes,
    identifier_type: str,
    settings: ResolvedSyncSettings,
    journal_root: Path,
    started: float,
    log: logging.Logger,
    riders=None,
) -> SyncReport:
    _record_run(con, report, started_at=_now(), folded=False)
    run_dir = journal_root / report.destination / report.run_id
    write_plan(run_dir, changes)
    rows = build_rows(changes, identifier_type, settings.update_existing_only)
    del changes
    journal = OutcomeJournal(run_dir, settings.journal_fsync_interval_ms)
    status, message, error = "completed", None, None
    n = len(rows)
    on_batch, arrays = journal.record, None
    if riders is not None and riders.rows:
        riders.before_send()
        arrays = ["attributes"] * n + [riders.array] * len(riders.rows)
        rows = rows + riders.rows

        def on_batch(batch) -> None:  # the journal holds the attribute rows only
            mine = [o for o in batch.outcomes if o.index < n]
            if mine:
                journal.record(dataclasses.replace(batch, outcomes=mine))

    result = None
    try:
        packed = {} if arrays is None else {"arrays": arrays}
        result = client.track_attributes(rows, on_batch=on_batch, **packed)
    except BaseException as exc:
        status, message, error = "failed", f"{type(exc).__name__}: {exc}", exc
        result = getattr(exc, "result", None)
    else:
        if result.not_delivered and not (result.delivered or result.rejected):
            # Nothing reached Braze: a run that "completes" here would hide a wrong endpoint,
            # a proxy or a 400 on every batch behind a count; fail it with the reason instead.
            reason = next((o.reason for o in result.outcomes if o.reason), "no reason was recorded")
            status = "failed"
            message = (
                f"sync of {report.destination!r} delivered nothing: all {result.not_delivered:,} "
                f"objects not delivered, e.g. {reason}; they stay pending for the next run"
            )
            error = SyncFailed(" ".join(message.split()))
        elif result.not_delivered:
            # Some batches failed: not a plain success. The run says so (status 'partial' in
            # braze_sync_runs, run metadata, `braze-assets status`); the rows stay pending.
            reason = next(
                (o.reason for o in result.outcomes if o.status == "not_delivered" and o.reason),
                "no reason was recorded",
            )
            status = "partial"
            message = (
                f"{result.not_delivered:,} of {len(result.outcomes):,} objects not delivered, "
                f"e.g. {reason}; they stay pending for the next run"
            )
    finally:
        journal.close()
    counts = fold_run(con, run_dir, report.destination, status=status, message=message)
    if arrays is not None and result is not None and None not in result.outcomes[n:]:
        # Interrupted without a result: the riders stay in flight for the next run's read-back.
        riders.after_send(result.outcomes[n:])
    report.status, report.message = status, message
    if counts:
        report.objects_delivered = counts["objects_delivered"]
        report.objects_rejected = counts["objects_rejected"]
        report.objects_not_delivered = counts["objects_not_delivered"]
        report.objects_unsent = counts["objects_unsent"]
        report.data_points_spent = counts["data_points_spent"]
        report.batches = counts["batches"]
    report.duration_s = time.perf_counter() - started
    con.execute(
        f"UPDATE {RUNS} SET duration_s = ? WHERE run_id = ?", [report.duration_s, report.run_id]
    )
    _prune_results(con, settings.results_retention_days)
    log.info("sync %s run %s: %s", report.destination, report.run_id, report.metadata())
    if error is not None:
        raise error
    return report


def _record_run(
    con, report: SyncReport, *, started_at: dt.datetime, folded: bool, finished: bool = False
) -> None:
    d = report.diff
    con.execute(
        f"""INSERT INTO {RUNS} (run_id, destination, snapshot_date, status, full_resync, started_at, finished_at,
                duration_s, objects_planned, values_planned, adds, changes, removes, joins, leaves, held_back,
                deferred, forecast_data_points, objects_delivered, objects_rejected, objects_not_delivered,
                objects_unsent, data_points_spent, batches, message, folded)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?)""",
        [
            report.run_id,
            report.destination,
            report.snapshot_date,
            report.status if folded else "running",
            report.full_resync,
            started_at,
            started_at if finished else None,
            report.duration_s if finished else None,
            d.objects,
            d.values,
            d.adds,
            d.changes,
            d.removes,
            d.joins,
            d.leaves,
            d.held_back,
            d.deferred,
            d.forecast_data_points,
            report.message,
            folded,
        ],
    )


def _prune_results(con, retention_days: int) -> None:
    cutoff = _now() - dt.timedelta(days=retention_days)
    con.execute(f"DELETE FROM {RESULTS} WHERE sent_at < ?", [cutoff])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
