"""attribute_snapshots: the day's intended Braze state, one daily partition per day."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets import tables
from braze_assets.attributes.config import DestinationConfig
from braze_assets.defs import automation
from braze_assets.defs.project import warehouse_asset
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.snapshots import build_snapshot
from braze_assets.sync.tables import SNAPSHOTS

GROUP = "snapshots"
UPSTREAM = (tables.BRAZE_CUSTOMER_ATTRIBUTES, tables.CAMPAIGN_AUDIENCES)


def build_snapshot_asset(
    destinations: Sequence[DestinationConfig],
    config: SyncConfig,
    partitions: dg.DailyPartitionsDefinition,
) -> dg.AssetsDefinition:
    @warehouse_asset(
        name=SNAPSHOTS,
        group_name=GROUP,
        partitions_def=partitions,
        # Campaigns run by hand may never have run: a missing audience partition has no members.
        automation_condition=automation.derived_allow_missing(),
        freshness_policy=automation.freshness(automation.SOURCES_CRON),
        # A day's snapshot reads every campaign's current members, whatever partition built them.
        deps=[dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping()) for name in UPSTREAM],
        tags={"layer": "activation"},
        description=(
            "The full intended Braze state of the day per destination, identifier and attribute (long format: "
            "canonical JSON text + 64-bit hash), from braze_customer_attributes and the campaign audiences' "
            f"treatment members. Rerunning a day replaces it; days older than {config.snapshot_retention_days} "
            "are pruned. The sync diffs it against what Braze confirmed."
        ),
    )
    def attribute_snapshots(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        day = dt.date.fromisoformat(context.partition_key)
        with duckdb.get_connection() as con:
            report = build_snapshot(
                con, destinations, day, retention_days=config.snapshot_retention_days
            )
            days = con.execute(f"SELECT count(DISTINCT snapshot_date) FROM {SNAPSHOTS}").fetchone()[
                0
            ]
        for name, missing in report.members_without_identifier.items():
            if missing:
                context.log.warning(
                    f"{name}: {missing} audience members have no Braze identifier and are not sent"
                )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(sum(report.rows.values())),
                "rows_by_destination": dg.MetadataValue.json(report.rows),
                "profiles": dg.MetadataValue.int(sum(report.identifiers.values())),
                "membership_rows": dg.MetadataValue.int(sum(report.memberships.values())),
                "members_without_identifier": dg.MetadataValue.int(
                    sum(report.members_without_identifier.values())
                ),
                "conflicting_values_dropped": dg.MetadataValue.int(sum(report.conflicts.values())),
                "pruned_rows": dg.MetadataValue.int(report.pruned_rows),
                "days_kept": dg.MetadataValue.int(days),
            }
        )

    return attribute_snapshots
