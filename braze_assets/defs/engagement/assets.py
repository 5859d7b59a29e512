"""engagement_attributes: per-customer engagement from Currents, for audiences and Braze attributes."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg

from braze_assets.currents.ingest import EVENTS_TABLE
from braze_assets.defs import automation
from braze_assets.defs.engine import duckdb_stage_args, publish_raw
from braze_assets.defs.project import OWNERS, table_metadata
from braze_assets.engagement.attributes import TABLE, build_engagement_attributes

GROUP = "engagement"


@dg.asset(
    name=TABLE,
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    **duckdb_stage_args(),
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
    with context.resources.duckdb.get_connection() as con:
        customers = build_engagement_attributes(con, as_of)
        metadata = table_metadata(con, TABLE)
        # braze_customer_attributes runs on Spark in Spark mode and reads it there.
        publish_raw(context, con, TABLE)
    context.log.info(
        f"engagement attributes for {customers} customers as of {as_of:%Y-%m-%d %H:%M} UTC"
    )
    return dg.MaterializeResult(metadata={**metadata, "as_of": dg.MetadataValue.timestamp(as_of)})
