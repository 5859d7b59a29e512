"""`customer_360`: the merged profile, one row per customer."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import dagster as dg

from braze_assets import tables
from braze_assets.config.model import ProjectConfig
from braze_assets.customer_360.profile import TABLE, build_customer_360
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    engine_table_metadata,
    open_engine,
)
from braze_assets.identity.config import IdentityConfig

GROUP = tables.CUSTOMER_360_GROUP


def build_profile_assets(
    config: ProjectConfig, identity: IdentityConfig
) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name=TABLE,
        group_name=GROUP,
        **engine_asset_args(warehouse_copy=True),
        automation_condition=automation.derived(),
        deps=[
            dg.AssetKey(tables.UNIFIED_COALESCED),
            *[dg.AssetKey(f"raw_{s.name}") for s in config.sources],
        ],
        description="One row per customer; each field from the best record by source priority and recency, "
        "address fields taken together; loyalty tier, sources, first seen and last updated.",
        check_specs=[
            dg.AssetCheckSpec(
                "one_row_per_customer",
                asset=TABLE,
                description="Every customer id of unified_coalesced appears exactly once. Blocking: "
                "while it fails nothing downstream is rebuilt or sent to Braze.",
                blocking=True,
            )
        ],
    )
    def customer_360(context: dg.AssetExecutionContext):
        with open_engine(context) as engine:
            report = build_customer_360(engine, config, identity)
            metadata = engine_table_metadata(engine, TABLE)
            # Two queries, not one with a scalar subquery: Spark runs a query's subqueries as
            # concurrent jobs, and two distinct counts then compete for the executors' memory.
            expected = engine.fetch("SELECT count(DISTINCT customer_id) FROM unified_coalesced")[0][
                0
            ]
            distinct = engine.fetch(f"SELECT count(DISTINCT customer_id) FROM {TABLE}")[0][0]
        copy_to_warehouse(context, TABLE, order_by="customer_id")
        yield dg.MaterializeResult(
            metadata={
                **metadata,
                "customers": dg.MetadataValue.int(report.customers),
                **{f"filled_{k}": dg.MetadataValue.int(v) for k, v in report.filled.items()},
            }
        )
        yield dg.AssetCheckResult(
            check_name="one_row_per_customer",
            passed=report.customers == distinct == expected,
            metadata={
                "rows": dg.MetadataValue.int(report.customers),
                "customers": dg.MetadataValue.int(expected),
            },
        )

    return [customer_360]
