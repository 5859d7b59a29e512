"""Per-destination sync jobs and schedules (default stopped), and a sensor on new upstream data."""

import datetime as dt
import json

import dagster as dg

from braze_assets.attributes.config import DestinationConfig
from braze_assets.defs.sync.assets import sync_asset_key
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.tables import SNAPSHOTS

# The sensor syncs when any of these is materialised (attribute values or audience membership).
TRIGGERS = ("braze_customer_attributes", "campaign_audiences")


def sync_job_name(destination: str) -> str:
    return f"braze_sync_{destination}"


def build_sync_job(destination: DestinationConfig):
    # Partitioning is inferred from the selected (daily-partitioned) assets.
    return dg.define_asset_job(
        sync_job_name(destination.name),
        selection=dg.AssetSelection.assets(SNAPSHOTS, sync_asset_key(destination.name)),
        description=f"Snapshot today's intended state and send destination {destination.name!r} what changed.",
        tags={"flow": "sync", "destination": destination.name},
    )


def build_schedule(
    destination: DestinationConfig, config: SyncConfig, job
) -> dg.ScheduleDefinition:
    cron = config.for_destination(destination.name).cron

    @dg.schedule(
        name=f"{sync_job_name(destination.name)}_schedule",
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Sync {destination.name!r} on its own cadence ({cron}, UTC).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        return dg.RunRequest(partition_key=context.scheduled_execution_time.date().isoformat())

    return _schedule


def build_sensor(jobs: list) -> dg.SensorDefinition:
    @dg.sensor(
        name="braze_sync_on_new_data",
        jobs=jobs,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Starts every destination's sync (today's partition) when braze_customer_attributes or a campaign "
            "audience has been materialised since the sensor last fired."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext):
        seen = json.loads(context.cursor) if context.cursor else {}
        latest = {}
        for name in TRIGGERS:
            records = context.instance.fetch_materializations(
                dg.AssetKey(name), limit=1, ascending=False
            ).records
            latest[name] = records[0].storage_id if records else 0
        fresh = [name for name in TRIGGERS if latest[name] > seen.get(name, 0)]
        if not fresh:
            return dg.SkipReason("no new attribute or audience materialisations")
        today = dt.datetime.now(dt.UTC).date().isoformat()
        marker = "-".join(str(latest[name]) for name in TRIGGERS)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{job.name}-{marker}",
                    job_name=job.name,
                    partition_key=today,
                    tags={"triggered_by": ",".join(fresh)},
                )
                for job in jobs
            ],
            cursor=json.dumps(latest),
        )

    return _sensor
