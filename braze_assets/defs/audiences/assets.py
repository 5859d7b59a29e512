"""Campaign audiences as a partitioned asset: one partition per campaign / orchestration in config."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg

from braze_assets import tables
from braze_assets.attributes import build_attribute_source_view, carried_columns
from braze_assets.audiences import (
    AudiencesConfig,
    CampaignReport,
    plan_activation,
    write_activation,
)
from braze_assets.audiences.cadence import cron_schedule
from braze_assets.audiences.campaigns import RECIPIENT_COLUMNS
from braze_assets.audiences.config import Campaign
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    SPARK_KEY,
    copy_to_warehouse,
    engine_asset_args,
    open_engine,
)
from braze_assets.defs.project import project_config
from braze_assets.defs.resources import WAREHOUSE_KEY, audience_connection

GROUP = "audiences"
MEMBERS_ASSET = tables.CAMPAIGN_AUDIENCES
RECIPIENTS_ASSET = tables.CAMPAIGN_RECIPIENTS
# braze_customer_attributes (re)builds the view customer_attribute_source that segments read.
UPSTREAM = (tables.BRAZE_CUSTOMER_ATTRIBUTES,)


def activation_partitions(audiences: AudiencesConfig) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([a.name for a in audiences.activations()])


def _describe(audiences: AudiencesConfig, name: str) -> dict:
    act = audiences.activation(name)
    described = {
        "destination": act.destination,
        "cadence": act.cadence,
        "cron": cron_schedule(act.cadence) or "manual",
        "membership": f"{act.membership.mode} attribute {act.membership.resolve(act.name)[0]}",
    }
    if isinstance(act, Campaign):
        described.update(
            segments=", ".join(act.segments),
            exclude=", ".join(act.exclude) or "-",
            control_group_percent=act.control_group_percent,
        )
    else:
        described.update(sql_audience=act.sql_audience)
    return described


def _members_metadata(report: CampaignReport, described: dict) -> dict:
    return {
        "dagster/row_count": dg.MetadataValue.int(report.size),
        "audience_size": dg.MetadataValue.int(report.size),
        "treatment_size": dg.MetadataValue.int(report.treatment),
        "control_group_size": dg.MetadataValue.int(report.control),
        "joins": dg.MetadataValue.int(report.joins),
        "leaves": dg.MetadataValue.int(report.leaves),
        "stays": dg.MetadataValue.int(report.stays),
        "targeted": dg.MetadataValue.int(report.targeted),
        "excluded": dg.MetadataValue.int(report.excluded),
        "unassigned": dg.MetadataValue.int(report.unassigned),
        "sub_audience_sizes": dg.MetadataValue.json(report.audience_sizes),
        "kind": dg.MetadataValue.text(report.kind),
        "retired_campaigns": dg.MetadataValue.text(", ".join(report.retired_campaigns) or "-"),
        **{key: dg.MetadataValue.text(str(value)) for key, value in described.items()},
    }


def _evaluate_and_write(context: dg.AssetExecutionContext, audiences: AudiencesConfig):
    """The activation's plan and write on the engine: on DuckDB, analyst SQL runs on the
    locked-down read-only connection and only the plan's rows are written; on Spark the session
    does both (the guard and the Spark transpile check stand in for the read-only connection) and
    the tables are copied to the warehouse for the readers still on DuckDB."""
    name = context.partition_key
    spark = getattr(context.resources, SPARK_KEY, None)
    if spark is None:
        warehouse = getattr(context.resources, WAREHOUSE_KEY)
        with audience_connection(warehouse) as con:
            plan = plan_activation(con, name, audiences, datetime.now(UTC)).carried()
        with warehouse.get_connection() as con:
            report = write_activation(con, plan, audiences, context.run.run_id)
            runs, rows = con.execute(RECIPIENT_COUNTS, [name]).fetchone()
        return report, runs, rows
    with open_engine(context) as engine:
        # The view is a session view: this process's session builds it again.
        build_attribute_source_view(engine, carried_columns(project_config()))
        plan = plan_activation(engine, name, audiences, datetime.now(UTC))
        report = write_activation(engine, plan, audiences, context.run.run_id)
        runs, rows = engine.fetch(RECIPIENT_COUNTS, [name])[0]
    for table in (tables.AUDIENCE_MEMBERS, tables.CAMPAIGN_MEMBER_ATTRIBUTES):
        copy_to_warehouse(context, table, order_by=ORDER[table])
    # The history gains this run's rows only: copy those, not the whole history again.
    copy_to_warehouse(
        context,
        tables.CAMPAIGN_RECIPIENTS,
        order_by=ORDER[tables.CAMPAIGN_RECIPIENTS],
        columns=RECIPIENT_COLUMNS,
        where="campaign = ? AND run_id = ?",
        params=[name, context.run.run_id],
    )
    return report, runs, rows


RECIPIENT_COUNTS = (
    "SELECT count(DISTINCT run_id), count(*) FROM campaign_recipients WHERE campaign = ?"
)
ORDER = {
    tables.AUDIENCE_MEMBERS: "campaign, customer_id",
    tables.CAMPAIGN_RECIPIENTS: "computed_at, campaign, customer_id",
    tables.CAMPAIGN_MEMBER_ATTRIBUTES: "campaign, attribute, customer_id",
}


def build_audience_assets(audiences: AudiencesConfig) -> dg.AssetsDefinition:
    partitions = activation_partitions(audiences)
    cadences = {a.name: cron_schedule(a.cadence) for a in audiences.activations()}
    engine_args = engine_asset_args(warehouse_copy=True)
    # Per spec here: a multi_asset takes no kinds or owners of its own.
    kinds, owners = engine_args.pop("kinds"), engine_args.pop("owners")

    @dg.multi_asset(
        name="campaign_audiences_and_history",
        partitions_def=partitions,
        group_name=GROUP,
        **engine_args,
        specs=[
            dg.AssetSpec(
                MEMBERS_ASSET,
                deps=[dg.AssetKey(k) for k in UPSTREAM],
                automation_condition=automation.campaigns(cadences),
                kinds=kinds,
                owners=owners,
                tags={"layer": "activation"},
                description=(
                    "Current members of each campaign / orchestration (table `audience_members`, plus the campaign "
                    "attributes in `campaign_member_attributes`): treatment rows become Braze membership; a customer "
                    "who drops out is sent a leave by the sync. One partition per campaign or orchestration."
                ),
            ),
            # No condition of its own (it has no inputs, so a cron alone would fire it): it is
            # written by every run of campaign_audiences, which cannot run without it.
            dg.AssetSpec(
                RECIPIENTS_ASSET,
                kinds=kinds,
                owners=owners,
                tags={"layer": "activation"},
                description="History: who was in which campaign, in which group (treatment / control), in which run.",
            ),
        ],
    )
    def campaign_audiences(context: dg.AssetExecutionContext):
        name = context.partition_key
        report, runs, rows = _evaluate_and_write(context, audiences)
        context.log.info(
            f"{name}: {report.size} members ({report.control} in control), "
            f"{report.joins} joined, {report.leaves} left, {report.stays} stayed"
        )
        if report.retired_campaigns:
            context.log.warning(
                f"removed the members of campaigns no longer in config: {', '.join(report.retired_campaigns)}"
            )
        yield dg.MaterializeResult(
            asset_key=MEMBERS_ASSET, metadata=_members_metadata(report, _describe(audiences, name))
        )
        yield dg.MaterializeResult(
            asset_key=RECIPIENTS_ASSET,
            metadata={
                "recipients_this_run": dg.MetadataValue.int(report.size),
                "runs_recorded": dg.MetadataValue.int(runs),
                "history_rows": dg.MetadataValue.int(rows),
            },
        )

    return campaign_audiences
