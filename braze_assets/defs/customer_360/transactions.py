"""`transaction_attributes`: order history per customer, beside the customer 360 it describes."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg

from braze_assets import tables
from braze_assets.customer_360.transactions import build_transaction_attributes
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    engine_table_metadata,
    open_engine,
)
from braze_assets.defs.project import project_config

GROUP = tables.CUSTOMER_360_GROUP


def build_transaction_assets() -> list:
    config = project_config()
    raw = [dg.AssetKey(f"raw_txn_{t.name}") for t in config.transactions]

    @dg.asset(
        group_name=GROUP,
        **engine_asset_args(warehouse_copy=True),
        automation_condition=automation.derived(),
        deps=[dg.AssetKey(tables.UNIFIED_COALESCED), *raw],
        description=(
            "One row per customer with orders: first/second/latest order, lifetime frequency, revenue, "
            "AOV and largest order, one-and-done, early repeat purchaser, preferred and multi channel, "
            "L30D/L3M/L12M frequency and revenue, RFM scores, days since latest order."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "transaction_columns_usable",
                asset=tables.TRANSACTION_ATTRIBUTES,
                description="No transaction column is junk in every row (a wrong mapping, not noise).",
            )
        ],
    )
    def transaction_attributes(context: dg.AssetExecutionContext):
        with open_engine(context) as engine:
            report = build_transaction_attributes(engine, config, datetime.now(UTC))
            metadata = engine_table_metadata(engine, tables.TRANSACTION_ATTRIBUTES)
        copy_to_warehouse(context, tables.TRANSACTION_ATTRIBUTES, order_by="customer_id")
        for problem in report.problems:
            context.log.warning(f"transactions: {problem}")
        yield dg.MaterializeResult(
            metadata={
                **metadata,
                **{k: dg.MetadataValue.int(int(v)) for k, v in report.metadata().items()},
            }
        )
        yield dg.AssetCheckResult(
            check_name="transaction_columns_usable",
            passed=not report.unusable_columns,
            metadata={
                "unusable": dg.MetadataValue.text(", ".join(report.unusable_columns) or "none"),
                "problems": dg.MetadataValue.text("\n".join(map(str, report.problems)) or "none"),
            },
        )

    return [transaction_attributes]
