"""attribute_snapshots: the day's intended Braze state, one daily partition per day."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from braze_assets import tables
from braze_assets.attributes.config import DestinationConfig
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    export_to_spark,
    open_engine,
)
from braze_assets.lifecycle.tables import DELETIONS
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.snapshots import build_snapshot
from braze_assets.sync.tables import SNAPSHOT_COLUMNS, SNAPSHOTS

GROUP = "snapshots"
UPSTREAM = (tables.BRAZE_CUSTOMER_ATTRIBUTES, tables.CAMPAIGN_AUDIENCES)


def build_snapshot_asset(
    destinations: Sequence[DestinationConfig],
    config: SyncConfig,
    partitions: dg.DailyPartitionsDefinition,
) -> dg.AssetsDefinition:
    @dg.asset(
        name=SNAPSHOTS,
        group_name=GROUP,
        partitions_def=partitions,
        # Campaigns run by hand may never have run: a missing audience partition has no members.
        automation_condition=automation.derived_allow_missing(),
        freshness_policy=automation.freshness(automation.SOURCES_CRON),
        # A day's snapshot reads every campaign's current members, whatever partition built them.
        deps=[dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping()) for name in UPSTREAM],
        tags={"layer": "activation"},
        # In Spark mode built on Spark and copied into the warehouse file, where the payload gate
        # and the lifecycle's deletions read it.
        **engine_asset_args(warehouse_copy=True),
        description=(
            "The full intended Braze state of the day per destination, identifier and attribute (long format: "
            "canonical JSON text + 64-bit hash), from braze_customer_attributes and the campaign audiences' "
            f"treatment members. Rerunning a day replaces it; days older than {config.snapshot_retention_days} "
            "are pruned. The sync diffs it against what Braze confirmed."
        ),
    )
    def attribute_snapshots(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = dt.date.fromisoformat(context.partition_key)
        # In Spark mode: the deletions live in the warehouse file; a deleted profile is never
        # sent again.
        export_to_spark(context, [DELETIONS])
        with open_engine(context) as engine:
            report = build_snapshot(
                engine, destinations, day, retention_days=config.snapshot_retention_days
            )
            days = engine.fetch(f"SELECT count(DISTINCT snapshot_date) FROM {SNAPSHOTS}")[0][0]
        # The day's rows and the days pruned: the other days are in the warehouse file already.
        cutoff = day - dt.timedelta(days=config.snapshot_retention_days)
        copy_to_warehouse(
            context,
            SNAPSHOTS,
            order_by="snapshot_date, destination, identifier, attribute, element",
            columns=SNAPSHOT_COLUMNS,
            where="snapshot_date = ? OR snapshot_date <= ?",
            params=[day, cutoff],
        )
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
