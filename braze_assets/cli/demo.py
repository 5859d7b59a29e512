"""`braze-assets demo`: the whole flow on the embedded defaults, as real Dagster runs.

Runs go through a real Dagster instance (DAGSTER_HOME under the data dir) so that `dagster dev`
afterwards shows their materializations, metadata and checks.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from braze_assets import settings
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
            return f"step {event.step_key} failed: {error.message.strip()}"
    return "the run failed"


def _say(line: str) -> None:
    print(line, flush=True)


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
    from braze_assets.cli.demo_lifecycle import ensure_privacy_table, stage_lifecycle_changes
    from braze_assets.cli.progress import progress_printer
    from braze_assets.config import load_config
    from braze_assets.demo_data import generate_demo_data

    started = time.monotonic()
    config = load_config()
    print(f"Data dir: {data_dir}")
    generate_demo_data(
        data_dir, people=people or _existing_size(data_dir) or 20_000, progress=progress_printer()
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

        def run_plan(skip: tuple[str, ...] = ()) -> None:
            for job, partition_key in demo_plan(defs, now, currents_dates):
                if job.name in skip:
                    continue
                label = f"{job.name}" + (f" [{partition_key}]" if partition_key else "")
                print(f"  running {label} ...", flush=True)
                result = _execute(job, instance, partition_key, label, wait_limit)
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
    print(format_summary(flow_summary(settings.warehouse_path(), since=now)))
    print(
        "\nOpen the Dagster UI on these results:\n"
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml\n"
        "or, with the local Braze sandbox and S3 running beside it so runs launched from the UI work:\n"
        "  ./run ui"
    )
    return 0
