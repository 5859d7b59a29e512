"""New Currents files -> runs of the event dates they belong to, late files included."""
# No `from __future__ import annotations` here: Dagster reads the resource annotations at runtime.

from datetime import UTC, date, datetime

import dagster as dg

from braze_assets.currents.config import CurrentsConfig
from braze_assets.currents.discovery import discover
from braze_assets.defs.currents.resources import CurrentsS3Resource


def build_currents_sensor(
    config: CurrentsConfig, events_asset: dg.AssetsDefinition
) -> dg.SensorDefinition:
    @dg.sensor(
        name="currents_new_files",
        asset_selection=[events_asset],
        minimum_interval_seconds=config.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Lists the Currents bucket's last {config.lookback_hours} hours of `date=` folders per event "
            "type and requests a `currents_events` run for every event date with new or re-written "
            "files, late ones included. Run keys come from the files' keys and ETags, so the same "
            "files never start two runs."
        ),
    )
    def currents_new_files(
        context: dg.SensorEvaluationContext, currents_s3: CurrentsS3Resource
    ) -> dg.SensorResult:
        now = datetime.now(UTC)
        found = discover(
            currents_s3.currents_bucket(),
            context.cursor,
            now=now,
            lookback_hours=config.lookback_hours,
        )
        requests, skipped = [], []
        for change in found.changes:
            day = date.fromisoformat(change.partition_key)
            if config.start_date <= day <= now.date():
                requests.append(
                    dg.RunRequest(run_key=change.run_key, partition_key=change.partition_key)
                )
            else:
                skipped.append(change.partition_key)
        if skipped:
            context.log.warning(
                f"files dated outside the partitions ({config.start_date} .. today): {', '.join(skipped)}"
            )
        context.log.info(
            f"listed {found.listed} objects; {len(requests)} event date(s) with new files"
        )
        return dg.SensorResult(run_requests=requests, cursor=found.cursor)

    return currents_new_files
