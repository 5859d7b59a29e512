"""engagement_attributes: per-customer engagement from Currents, for audiences and Braze attributes."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg

from braze_assets.currents.ingest import EVENTS_TABLE, ensure_tables
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    engine_table_metadata,
    export_tables,
    open_engine,
)
from braze_assets.defs.resources import WAREHOUSE_KEY
from braze_assets.engagement.attributes import TABLE, build_engagement_attributes

GROUP = "engagement"


def build_engagement_assets() -> list:
    """The asset, built when the definitions load: its kinds, resources and pool follow the
    engine chosen then."""

    @dg.asset(
        name=TABLE,
        group_name=GROUP,
        # In Spark mode the asset also opens the warehouse file: to copy the events out and the
        # table back (warehouse_copy), so it takes the pool there too.
        **engine_asset_args(warehouse_copy=True),
        # Currents days without files are never materialised; they must not hold the asset back.
        automation_condition=automation.derived_allow_missing(),
        deps=[dg.AssetKey(EVENTS_TABLE)],
        description=(
            "One row per customer (`external_user_id` = customer 360 `external_id`; events known only by "
            "Braze `user_id` count once any event links the two): last email open / click, opens and "
            "clicks in 30 and 90 days (machine opens excluded), bounces, unsubscribes, custom events, "
            "purchases and sessions, as of the run."
        ),
    )
    def engagement_attributes(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        as_of = datetime.now(UTC)
        with open_engine(context) as engine:
            if engine.name == "spark":
                _events_to_spark(context, engine)
            customers = build_engagement_attributes(engine, as_of)
            metadata = engine_table_metadata(engine, TABLE)
        # The warehouse file's customer_attribute_source joins it, for the stages still on DuckDB.
        copy_to_warehouse(context, TABLE, order_by="external_user_id")
        context.log.info(
            f"engagement attributes for {customers} customers as of {as_of:%Y-%m-%d %H:%M} UTC"
        )
        return dg.MaterializeResult(
            metadata={**metadata, "as_of": dg.MetadataValue.timestamp(as_of)}
        )

    return [engagement_attributes]


def _events_to_spark(context: dg.AssetExecutionContext, engine) -> None:
    """Currents load into the warehouse file (DuckDB's Avro reader); Spark reads a copy of the
    events at the table location, replaced each run (an empty one before any Currents day, so a
    copy from an earlier warehouse file never stays)."""
    with getattr(context.resources, WAREHOUSE_KEY).get_connection() as con:
        ensure_tables(con)
        export_tables(con, engine, [EVENTS_TABLE])
