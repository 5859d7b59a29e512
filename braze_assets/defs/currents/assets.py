"""currents_events: one daily partition per event date, loaded from every Currents file of that day."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.currents.config import CurrentsConfig
from braze_assets.currents.discovery import day_objects
from braze_assets.currents.ingest import EVENTS_TABLE, IngestReport, ingest_objects
from braze_assets.defs.currents.resources import CurrentsS3Resource
from braze_assets.defs.project import table_metadata, warehouse_asset

GROUP = "currents"


def _report_metadata(report: IngestReport) -> dict:
    by_type: dict[str, int] = {}
    for loaded in report.loaded:
        by_type[loaded.event_type] = by_type.get(loaded.event_type, 0) + loaded.inserted
    return {
        "files_loaded": dg.MetadataValue.int(len(report.loaded)),
        "files_already_loaded": dg.MetadataValue.int(len(report.skipped)),
        "files_quarantined": dg.MetadataValue.int(len(report.quarantined)),
        "events_read": dg.MetadataValue.int(report.rows),
        "events_inserted": dg.MetadataValue.int(report.inserted),
        "duplicate_events_dropped": dg.MetadataValue.int(report.duplicates),
        "events_inserted_by_type": dg.MetadataValue.json(dict(sorted(by_type.items()))),
    }


def build_currents_events_asset(
    config: CurrentsConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @warehouse_asset(
        "s3",
        "avro",
        name=EVENTS_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        description=(
            "Braze Currents events of one event date (UTC), read from every Avro file Braze wrote under "
            "that day's `date=` folders with each file's own writer schema. Files already loaded "
            "(`currents_files`) are skipped, events already loaded (same event type and Braze event id) are dropped, "
            "corrupt files are quarantined. Materialising a day again loads only what is new."
        ),
        tags={"layer": "raw"},
    )
    def currents_events(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, currents_s3: CurrentsS3Resource
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        bucket = currents_s3.currents_bucket()
        objects = list(day_objects(bucket, day))
        context.log.info(f"{len(objects)} Currents files for {day} in {bucket!r}")
        with duckdb.get_connection() as con:
            report = ingest_objects(
                con, bucket, objects, batch_rows=config.batch_rows, workers=config.workers
            )
            metadata = table_metadata(con, EVENTS_TABLE)
            day_events = con.execute(
                f"SELECT count(*) FROM {EVENTS_TABLE} WHERE event_date = ?", [day]
            ).fetchone()[0]
        for file in report.quarantined:
            context.log.warning(f"quarantined {file.key}: {file.error}")
        return dg.MaterializeResult(
            metadata={
                **metadata,
                **_report_metadata(report),
                "events_dated_this_day": dg.MetadataValue.int(day_events),
            }
        )

    return currents_events
