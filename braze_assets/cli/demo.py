"""`braze-assets demo`: the whole flow on the embedded defaults, as real Dagster runs.

Runs go through a real Dagster instance (DAGSTER_HOME under the data dir) so that `dagster dev`
afterwards shows their materializations, metadata and checks.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from braze_assets import settings, warehouse
from braze_assets.cli.errors import UserFacingError
from braze_assets.cli.instance import dagster_home
from braze_assets.cli.runs import (
    SLOT_WAIT_ENV,
    SlotWaitAborted,
    SlotWaitInterrupted,
    SlotWatch,
    recover_dead_runs,
    slot_wait_seconds,
)
from braze_assets.cli.services import Services, local_services
from braze_assets.cli.summary import flow_summary, format_summary
from braze_assets.warehouse import check_openable


def _existing_size(data_dir: Path) -> int | None:
    """Without --people, keep whatever demo size the data dir already holds."""
    from braze_assets.demo_data.generator import MANIFEST

    try:
        return int(json.loads((data_dir / MANIFEST).read_text())["people"])
    except (OSError, ValueError, KeyError):
        return None


def _workspace_users(data_dir: Path) -> list[dict]:
    path = data_dir / "braze_workspace_users.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _prepare_local_services(services: Services, data_dir: Path, now: datetime) -> list[str]:
    """Seed the sandbox with the demo workspace's users and drop demo Currents files into local S3.

    Returns the Currents event dates to ingest: those of the demo files, or for a real bucket the
    last two days (the sensor takes over from there in a deployment).
    """
    users = _workspace_users(data_dir)
    if services.braze_is_local:
        services.sandbox.seed_users(u["external_id"] for u in users)
    if not services.s3_is_local:
        return [(now - timedelta(days=days)).date().isoformat() for days in (1, 0)]
    from braze_assets.currents.demo import publish_demo_currents
    from braze_assets.currents.keys import parse_key

    keys = publish_demo_currents(services.bucket, services.prefix, users, now=now)
    return sorted(
        {parsed.date.isoformat() for parsed in map(parse_key, keys) if parsed is not None}
    )


# The full event log of every run is in the Dagster instance (and the UI); the terminal gets
# one line per run and, on failure, the user's error.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _first_error(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            return f"step {event.step_key} failed: {readable_error(error.message)}"
    return "the run failed"


def readable_error(message: str) -> str:
    """A step's innermost error as the user should read it: a warehouse-file problem in one line,
    and without the exception's module path (`dagster._core.definitions.events.Failure: ...`)."""
    from braze_assets import warehouse

    explained = warehouse.explain(message, settings.warehouse_path())
    if explained is not None:
        return explained
    text = message.strip()
    head, sep, rest = text.partition(": ")
    if sep and " " not in head and "." in head:
        text = rest
    return text


def _say(line: str) -> None:
    print(line, flush=True)


def _sync_outcomes(result) -> tuple[list[str], list[str]]:
    """The sync run ids this Dagster run materialised, and the lines the user must see: what the
    recovery did with a damaged journal, and objects a sync could not deliver."""
    run_ids, notes = [], []
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "sync_run_id" not in metadata:
            continue
        run_ids.append(str(metadata["sync_run_id"].value))
        recovery = str(metadata["recovery_notes"].value) if "recovery_notes" in metadata else "-"
        if recovery != "-":
            notes.extend(recovery.splitlines())
        status = str(metadata["status"].value) if "status" in metadata else ""
        if status == "partial":
            failed = metadata["not_delivered"].value
            notes.append(
                f"sync {run_ids[-1]}: {failed:,} objects not delivered; they stay pending and "
                "are sent again by the next run (`braze-assets status` lists them)"
            )
    return run_ids, notes


@contextmanager
def _demo_lock(data_dir: Path):
    """One demo per data dir at a time: two would each start a local Braze sandbox on the same
    state file (the later flush overwrites what the other delivered) and generate the same files."""
    path = data_dir / "demo.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            print(
                f"another `braze-assets demo` is running in {data_dir} (pid {holder}); "
                "waiting for it to finish (Ctrl-C stops)",
                flush=True,
            )
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # a signal ends the wait
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _execute(job, instance, partition_key, label: str, wait_limit: float):
    watch = SlotWatch(instance, label, wait_limit, say=_say)
    try:
        with watch:
            result = job.execute_in_process(
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
                run_config=QUIET,
                tags=watch.tags(),
            )
        if watch.stopped is not None:  # Dagster caught the stop and failed the run
            raise watch.stopped
        return result
    except SlotWaitAborted as stop:
        reason = f"{stop.reason} after waiting {watch.waited:.0f} s for a warehouse pool slot"
        watch.abandon(reason)
        if isinstance(stop, SlotWaitInterrupted):
            print(f"  {label}: {reason}", file=sys.stderr, flush=True)
            raise KeyboardInterrupt from None
        raise UserFacingError(
            f"{label}: {reason}; another run holds it (see `dagster dev` or raise {SLOT_WAIT_ENV})"
        ) from None


def run_demo(data_dir: Path, *, people: int | None = None) -> int:
    from braze_assets.config import load_config

    started = time.monotonic()
    from braze_assets.engine import check_engine, effective_engine

    config = load_config()
    # Spark mode without Java, a master or a writable table location stops here, in one line.
    check_engine(effective_engine(config.engine))
    print(f"Data dir: {data_dir}")
    with _demo_lock(data_dir):
        # A warehouse this DuckDB cannot open fails here, in one line, before anything starts
        # (inside the lock: a demo still running holds the warehouse, which is no fault).
        check_openable(settings.warehouse_path())
        # A memory limit DuckDB refuses fails now, not after the demo data is generated.
        with duckdb.connect() as scratch:
            warehouse.apply_memory_limit(scratch)
        return _run_demo(data_dir, people, started, config)


def _run_demo(data_dir: Path, people: int | None, started: float, config) -> int:
    from braze_assets.cli.demo_lifecycle import ensure_privacy_table, stage_lifecycle_changes
    from braze_assets.cli.progress import progress_display
    from braze_assets.demo_data import generate_demo_data

    with progress_display() as progress:
        generate_demo_data(
            data_dir, people=people or _existing_size(data_dir) or 20_000, progress=progress
        )
    home = dagster_home(data_dir)
    with local_services(data_dir) as services:
        where = "local sandbox" if services.braze_is_local else "configured endpoint"
        print(
            f"Braze: {services.braze_endpoint} ({where}); Currents: s3://{services.bucket}/{services.prefix}"
        )
        now = datetime.now(UTC)
        currents_dates = _prepare_local_services(services, data_dir, now)

        import dagster as dg

        from braze_assets.definitions import defs
        from braze_assets.defs.jobs.plan import demo_plan

        instance = dg.DagsterInstance.get()
        recover_dead_runs(instance, say=_say)
        wait_limit = slot_wait_seconds()
        ensure_privacy_table(settings.warehouse_path())
        sync_runs: list[str] = []

        def run_plan(skip: tuple[str, ...] = ()) -> None:
            for job, partition_key in demo_plan(defs, now, currents_dates):
                if job.name in skip:
                    continue
                label = f"{job.name}" + (f" [{partition_key}]" if partition_key else "")
                print(f"  running {label} ...", flush=True)
                result = _execute(job, instance, partition_key, label, wait_limit)
                run_ids, notes = _sync_outcomes(result)
                sync_runs.extend(run_ids)
                for note in notes:
                    print(f"  {label}: {note}", file=sys.stderr, flush=True)
                if not result.success:
                    raise UserFacingError(f"{label}: {_first_error(result)}")

        run_plan()
        staged = stage_lifecycle_changes(data_dir, settings.warehouse_path(), config)
        if staged is not None:
            merge, gone = staged["merge"], staged["privacy_request"]
            print(
                "  next day: guest account {guest_external_id} is consolidated into {main_external_id}; "
                "customer {external_id} asks to be forgotten".format(**merge, **gone),
                flush=True,
            )
            run_plan(skip=("currents_ingest",))
    print("\nbraze_assets demo finished in %.0f s\n" % (time.monotonic() - started))
    # Only this demo's syncs: another run may have synced meanwhile (a UI run, a schedule).
    # The demo lock keeps other demos out; lifecycle numbers are those recorded since it started.
    summary = flow_summary(settings.warehouse_path(), sync_runs=sync_runs, since=now)
    print(format_summary(summary))
    print(
        "\nOpen the Dagster UI on these results:\n"
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml\n"
        "or, with the local Braze sandbox and S3 running beside it so runs launched from the UI work:\n"
        "  ./run ui"
    )
    return 0
