"""profile_lifecycle_plan: a dry run of the next sync's merges, deletions and order events."""
# No `from __future__ import annotations` here: Dagster reads the resource annotations at runtime.

from collections.abc import Sequence

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.attributes.config import DestinationConfig
from braze_assets.config.sources import TransactionSourceConfig
from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.sync.assets import (
    resolved_settings,
    run_order_events,
    run_profile_lifecycle,
    sync_asset_key,
)
from braze_assets.defs.sync.checks import preview
from braze_assets.sync.config import SyncConfig

_SHOWN = 20


def _table(rows: list[dict], columns: Sequence[str]) -> str:
    if not rows:
        return "_none_"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join("| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows[:_SHOWN])
    more = f"\n\n... and {len(rows) - _SHOWN:,} more" if len(rows) > _SHOWN else ""
    return head + body + more


def build_lifecycle_check(
    destination: DestinationConfig,
    section: SyncConfig,
    transactions: Sequence[TransactionSourceConfig] = (),
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=sync_asset_key(destination.name),
        name="profile_lifecycle_plan",
        pool=WAREHOUSE_POOL,
        description=(
            "Dry run (nothing is sent): the Braze profile merges identity's merges call for, the profiles the "
            "next sync would delete (gone from every source past the grace period, or privacy requests) and the "
            "order events it would send with their data-point cost."
        ),
    )
    def profile_lifecycle_plan(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        resolved = resolved_settings(destination, section)

        def dry_run(con):
            plan = run_profile_lifecycle(con, None, destination, section, resolved, dry_run=True)
            orders = run_order_events(
                con, None, destination, section, resolved, transactions, dry_run=True
            )
            return plan, orders

        planned = preview(duckdb, dry_run)
        if isinstance(planned, dg.AssetCheckResult):
            return planned
        plan, orders = planned
        return dg.AssetCheckResult(
            passed=True,
            metadata={
                "merge_mode": dg.MetadataValue.text(resolved.merge_mode),
                "merges_planned": dg.MetadataValue.int(len(plan.merges_planned)),
                "planned_merges": dg.MetadataValue.md(
                    _table(plan.merges_planned, ("merge_identifier", "keep_identifier"))
                ),
                "deletions_planned": dg.MetadataValue.int(len(plan.deletions_planned)),
                "deletions_deferred": dg.MetadataValue.int(plan.deletions_deferred),
                "planned_deletions": dg.MetadataValue.md(
                    _table(plan.deletions_planned, ("identifier", "reason"))
                ),
                "order_events_planned": dg.MetadataValue.int(orders.planned),
                "order_events_forecast_data_points": dg.MetadataValue.int(
                    orders.forecast_data_points
                ),
            },
        )

    return profile_lifecycle_plan
