"""`braze-assets status`: the state of every recent run and everything Braze has not confirmed.

Three sources, each read without writing anything:
- the Dagster instance (DAGSTER_HOME): recent runs of the project with their status and the
  reason of a failure; a CLI run whose process is gone is named as such;
- the sync journal (`<data dir>/sync_journal/<destination>/<run>/`): runs not folded yet (killed
  or still sending), with what Braze answered so far;
- the warehouse: the sync runs' outcomes, and per destination the values of the latest snapshot
  that Braze has not confirmed (the diff the next sync sends), split into failed, unanswered and
  never sent. Result rows alone miss the rows a stopped run never sent.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from braze_assets import tables

# How many Dagster runs and sync runs per destination the report lists.
RUNS_SHOWN = 15
SYNC_RUNS_SHOWN = 5


@dataclass
class JournalState:
    """An unfolded sync journal: a run that was killed, or one still sending."""

    run_id: str
    objects: int
    delivered: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)
    not_delivered: set[int] = field(default_factory=set)
    identifiers: dict[int, str] = field(default_factory=dict)
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        return self.objects - len(self.delivered) - len(self.rejected) - len(self.not_delivered)


def read_journal(run_dir: Path) -> JournalState:
    from braze_assets.sync.journal import PLAN_FILE, read_outcomes

    state = JournalState(run_dir.name, 0)
    try:
        plan = pl.read_parquet(run_dir / PLAN_FILE, columns=["obj_idx", "identifier"]).unique(
            "obj_idx"
        )
    except FileNotFoundError:
        state.problem = "no plan: it stopped before sending anything"
        return state
    except Exception as exc:  # a damaged plan is reported, never fatal to status
        state.problem = f"plan unreadable ({type(exc).__name__}); the next sync resends its values"
        return state
    state.objects = plan.height
    state.identifiers = dict(zip(plan["obj_idx"].to_list(), plan["identifier"].to_list()))
    outcomes = read_outcomes(run_dir, state.notes)
    for status, indices in (
        ("delivered", state.delivered),
        ("rejected", state.rejected),
        ("not_delivered", state.not_delivered),
    ):
        indices.update(outcomes.filter(pl.col("status") == status)["obj_idx"].to_list())
    return state


def _journals(journal_root: Path) -> dict[str, list[JournalState]]:
    from braze_assets.sync.journal import DAMAGED_DIR, pending_runs

    found: dict[str, list[JournalState]] = {}
    if not journal_root.is_dir():
        return found
    for destination_dir in sorted(
        p for p in journal_root.iterdir() if p.is_dir() and p.name != DAMAGED_DIR
    ):
        states = [read_journal(d) for d in pending_runs(destination_dir)]
        if states:
            found[destination_dir.name] = states
    return found


# ---- Dagster runs ------------------------------------------------------------------------------


def _failure_reason(instance, run) -> str | None:
    import dagster as dg

    from braze_assets.cli.demo import readable_error

    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        error = event.step_failure_data.error if event and event.step_failure_data else None
        if error is None:
            continue
        while error.cause is not None:
            error = error.cause
        text = " ".join(readable_error(error.message).split())
        return f"step {event.step_key} failed: {text}"
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        text = record.dagster_event.message if record.dagster_event else record.user_message
        if text:
            return " ".join(text.split())
    return None


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dagster_runs_lines(home: Path) -> list[str]:
    import dagster as dg

    from braze_assets.run_owner import PID_TAG, owner_is_gone

    if not (home / "dagster.yaml").exists() and not (home / "storage").exists():
        return [f"no Dagster runs yet (no instance at {home})"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=RUNS_SHOWN)
        if not runs:
            return ["no Dagster runs yet"]
        lines = []
        for run in runs:
            record = instance.get_run_record_by_id(run.run_id)
            started = record.start_time if record is not None else None
            when = (
                dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
                if started
                else "-" * 19
            )
            partition = run.tags.get("dagster/partition")
            label = run.job_name + (f" [{partition}]" if partition else "")
            state = run.status.value
            if not run.is_finished and owner_is_gone(run.tags):
                state += f" (its process, pid {run.tags[PID_TAG]}, is gone: killed)"
            lines.append(f"  {run.run_id[:8]}  {when}  {state:<8}  {label}")
            if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                reason = _failure_reason(instance, run)
                if reason:
                    lines.append(f"            reason: {_shorten(reason)}")
        return lines


# ---- the warehouse -----------------------------------------------------------------------------


def _outstanding(con, destination: str) -> tuple[object, pl.DataFrame] | None:
    """The latest snapshot's values Braze has not confirmed, by object: (snapshot date, frame of
    identifier / values / held_back), or None without a snapshot. Runs the sync's own diff on a
    read-only connection (temp tables only)."""
    from braze_assets.sync.diff import CHANGES, compute_changes, latest_snapshot_date

    day = latest_snapshot_date(con, destination)
    if day is None:
        return None
    counts = compute_changes(con, destination, day, clear_attributes=_clear_attributes(destination))
    frame = con.execute(
        f"SELECT identifier, count(*) AS values FROM {CHANGES} GROUP BY identifier"
    ).pl()
    con.execute(f"DROP TABLE {CHANGES}")
    return day, frame, counts.held_back


def _clear_attributes(destination: str) -> list[str]:
    """Attributes whose mapping clears Braze's value on null (a removal of any other is not sent)."""
    try:
        from braze_assets.config import load_config

        config = load_config()
    except Exception:
        return []
    for dest in config.destinations:
        if dest.name == destination:
            return [m.name for m in dest.attributes if m.nulls == "clear"]
    return []


def _sync_runs(con, destination: str) -> list[tuple]:
    from braze_assets.sync.tables import RUNS

    return con.execute(
        f"""SELECT run_id, started_at, status, objects_planned, objects_delivered, objects_rejected,
                   objects_not_delivered, objects_unsent, message
            FROM {RUNS} WHERE destination = ? ORDER BY started_at DESC LIMIT {SYNC_RUNS_SHOWN}""",
        [destination],
    ).fetchall()


def _last_failed(con, destination: str) -> dict[str, str]:
    """identifier -> run id, for objects whose latest result is 'not delivered'."""
    from braze_assets.sync.tables import RESULTS

    rows = con.execute(
        f"""SELECT identifier, arg_max(run_id, sent_at), arg_max(status, sent_at)
            FROM {RESULTS} WHERE destination = ? GROUP BY identifier""",
        [destination],
    ).fetchall()
    return {identifier: run for identifier, run, status in rows if status == "not_delivered"}


def _destination_lines(con, destination: str, journals: list[JournalState]) -> list[str]:
    from braze_assets.warehouse import table_exists

    lines = [f"destination {destination}"]
    if table_exists(con, "braze_sync_runs"):
        runs = _sync_runs(con, destination)
        if runs:
            lines.append("  sync runs (newest first):")
        for run_id, started, status, planned, delivered, rejected, failed, unsent, message in runs:
            lines.append(
                f"    {run_id}  {str(started)[:19]}  {status:<11} planned {planned:,}, "
                f"delivered {delivered or 0:,}, rejected {rejected or 0:,}, "
                f"not delivered {failed or 0:,}, unsent {unsent or 0:,}"
            )
            if message:
                lines.append(f"      {_shorten(' '.join(message.split()))}")
    for journal in journals:
        if journal.problem:
            lines.append(f"  journal of run {journal.run_id} (not folded yet): {journal.problem}")
            continue
        lines.append(
            f"  journal of run {journal.run_id} (killed or still sending, folded by the next sync): "
            f"{journal.objects:,} profiles planned, {len(journal.delivered):,} accepted by Braze, "
            f"{len(journal.rejected):,} rejected, {len(journal.not_delivered):,} not delivered, "
            f"{journal.unanswered:,} never answered"
        )
        lines.extend(f"    {note}" for note in journal.notes)
    if not table_exists(con, tables.ATTRIBUTE_SNAPSHOTS):
        lines.append("  no attribute snapshot yet: nothing to compare with Braze")
        return lines
    found = _outstanding(con, destination)
    if found is None:
        lines.append("  no attribute snapshot yet: nothing to compare with Braze")
        return lines
    day, frame, held_back = found
    accepted: set[str] = set()
    unanswered: dict[str, str] = {}
    journal_failed: dict[str, str] = {}
    for journal in journals:
        ids = journal.identifiers
        accepted |= {ids[i] for i in journal.delivered if i in ids}
        journal_failed |= {ids[i]: journal.run_id for i in journal.not_delivered if i in ids}
        answered = journal.delivered | journal.rejected | journal.not_delivered
        unanswered |= {ids[i]: journal.run_id for i in ids if i not in answered}
    failed = _last_failed(con, destination) if table_exists(con, "braze_sync_results") else {}
    pending = frame.filter(~pl.col("identifier").is_in(list(accepted)))
    identifiers = pending["identifier"].to_list()
    n_failed = sum(1 for i in identifiers if i in journal_failed or i in failed)
    n_unanswered = sum(
        1 for i in identifiers if i in unanswered and i not in journal_failed and i not in failed
    )
    n_never = len(identifiers) - n_failed - n_unanswered
    lines.append(
        f"  outstanding against the {day} snapshot: {pending.height:,} profiles "
        f"({int(pending['values'].sum() or 0):,} values) not confirmed by Braze"
    )
    lines.append(f"    failed (sent, not delivered): {n_failed:>10,}")
    lines.append(f"    sent, never answered:         {n_unanswered:>10,}")
    lines.append(f"    never sent:                   {n_never:>10,}")
    if accepted:
        lines.append(
            f"  accepted by Braze but not folded yet: {len(accepted & set(frame['identifier'])):,} "
            "profiles (the next sync confirms them without resending)"
        )
    if held_back:
        lines.append(
            f"  held back: {held_back:,} values Braze rejected (sent again when they change)"
        )
    if pending.height:
        lines.append("  the next sync sends what is outstanding")
    return lines


def _destinations(con) -> list[str]:
    from braze_assets.warehouse import table_exists

    names: set[str] = set()
    for table in (tables.ATTRIBUTE_SNAPSHOTS, "braze_sync_runs"):
        if table_exists(con, table):
            names |= {
                r[0] for r in con.execute(f"SELECT DISTINCT destination FROM {table}").fetchall()
            }
    return sorted(names)


def warehouse_lines(warehouse: Path, journal_root: Path) -> list[str]:
    from braze_assets.warehouse import check_openable, connect

    journals = _journals(journal_root)
    if not warehouse.exists():
        lines = [
            f"no warehouse at {warehouse} yet: run `braze-assets demo` or materialize the assets"
        ]
        for destination, states in journals.items():
            lines.append(f"destination {destination}: {len(states)} journal(s) not folded yet")
        return lines
    try:
        check_openable(warehouse)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        # A run is writing it (DuckDB allows one writer process and no readers beside it).
        holder = re.search(r"PID (\d+)", str(error))
        who = f" (pid {holder.group(1)})" if holder else ""
        return [
            f"the warehouse {warehouse} is being written by a running process{who}; "
            "run `braze-assets status` again when it ends for the sync numbers"
        ]
    with connect(warehouse, read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        destinations = sorted(set(_destinations(con)) | set(journals))
        if not destinations:
            return ["no sync has run yet and no attribute snapshot exists"]
        lines = []
        for destination in destinations:
            lines.extend(_destination_lines(con, destination, journals.get(destination, [])))
        return lines


def status_report(warehouse: Path, journal_root: Path, home: Path) -> str:
    lines = ["Dagster runs (newest first):"]
    lines += dagster_runs_lines(home)
    lines.append("")
    lines.append("Braze sync:")
    lines += warehouse_lines(warehouse, journal_root)
    return "\n".join(lines)
