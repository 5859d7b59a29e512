"""The braze_customer_attributes asset: the attribute mapping applied to the customer 360."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import json
from collections.abc import Sequence

import dagster as dg

from braze_assets import tables
from braze_assets.attributes import (
    ATTRIBUTES_TABLE,
    AttributesReport,
    DestinationConfig,
    build_attribute_source_view,
    build_braze_customer_attributes,
    mapping_markdown,
)
from braze_assets.attributes.builder import REJECTIONS_TABLE
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    engine_table_metadata,
    open_engine,
)
from braze_assets.defs.resources import WAREHOUSE_KEY
from braze_assets.engine.duckdb_engine import DuckDBEngine

GROUP = "attributes"
UPSTREAM = (tables.CUSTOMER_360, tables.TRANSACTION_ATTRIBUTES, tables.ENGAGEMENT_ATTRIBUTES)


def _report_metadata(report: AttributesReport, destinations: Sequence[DestinationConfig]) -> dict:
    metadata = {
        "mapping": dg.MetadataValue.md(
            "\n\n".join(mapping_markdown(d) for d in destinations) or "_no destinations_"
        ),
        "profiles_by_destination": dg.MetadataValue.json(report.rows),
        "profiles_without_identifier": dg.MetadataValue.int(
            sum(report.without_identifier.values())
        ),
        "profiles_with_shared_identifier": dg.MetadataValue.int(
            sum(report.duplicate_identifiers.values())
        ),
        "rejected_values": dg.MetadataValue.int(report.total_rejections),
        "values_parsed": dg.MetadataValue.int(report.parsed_values),
        "attribute_stats": dg.MetadataValue.json(report.attributes),
    }
    if report.sample_payload:
        metadata["sample_payload"] = dg.MetadataValue.json(json.loads(report.sample_payload))
    if report.filled_columns:
        metadata["missing_source_columns"] = dg.MetadataValue.md(
            "Catalogue columns not (yet) in the warehouse, read as NULL:\n\n"
            + "\n".join(f"- `{c}`" for c in report.filled_columns)
        )
    return metadata


def build_attributes_asset(
    destinations: Sequence[DestinationConfig],
    carried: Sequence[str],
    alias_label: str | None = None,
) -> dg.AssetsDefinition:
    @dg.asset(
        name=ATTRIBUTES_TABLE,
        group_name=GROUP,
        **engine_asset_args("braze", warehouse_copy=True),
        automation_condition=automation.derived(),
        # Braze-facing: rebuilt every day after the 05:00 source reload.
        freshness_policy=automation.freshness(automation.SOURCES_CRON),
        deps=[dg.AssetKey(name) for name in UPSTREAM],
        description=(
            "One row per Braze profile per destination: the identifier and one typed, validated column per "
            "mapped attribute. Invalid values are NULL here and listed in braze_attribute_rejections."
        ),
        tags={"layer": "activation"},
    )
    def braze_customer_attributes(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with open_engine(context) as engine:
            report = build_braze_customer_attributes(
                engine, destinations, carried=carried, alias_label=alias_label
            )
            metadata = engine_table_metadata(engine, ATTRIBUTES_TABLE)
            spark_mode = not isinstance(engine, DuckDBEngine)
        if spark_mode:
            # The checks, audiences, snapshots and the sync still read the warehouse file.
            copy_to_warehouse(context, ATTRIBUTES_TABLE, order_by="destination, identifier")
            copy_to_warehouse(
                context,
                REJECTIONS_TABLE,
                order_by="destination, attribute, identifier, customer_id",
            )
            with getattr(context.resources, WAREHOUSE_KEY).get_connection() as con:
                build_attribute_source_view(con, carried)
        for name, count in report.without_identifier.items():
            if count:
                context.log.info(f"{name}: {count} profiles have no identifier and are not sent")
        if report.filled_columns:
            context.log.warning(
                f"source columns read as NULL (not in the warehouse): {', '.join(report.filled_columns)}"
            )
        return dg.MaterializeResult(metadata={**metadata, **_report_metadata(report, destinations)})

    return braze_customer_attributes
