"""Campaign audiences as a partitioned asset: one partition per campaign / orchestration in config."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets import tables
from braze_assets.audiences import (
    AudiencesConfig,
    CampaignReport,
    plan_activation,
    write_activation,
)
from braze_assets.audiences.cadence import cron_schedule
from braze_assets.audiences.config import Campaign
from braze_assets.defs import automation
from braze_assets.defs.project import OWNERS, WAREHOUSE_POOL
from braze_assets.defs.resources import audience_connection

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


def build_audience_assets(audiences: AudiencesConfig) -> dg.AssetsDefinition:
    partitions = activation_partitions(audiences)
    cadences = {a.name: cron_schedule(a.cadence) for a in audiences.activations()}

    @dg.multi_asset(
        name="campaign_audiences_and_history",
        partitions_def=partitions,
        pool=WAREHOUSE_POOL,
        group_name=GROUP,
        specs=[
            dg.AssetSpec(
                MEMBERS_ASSET,
                deps=[dg.AssetKey(k) for k in UPSTREAM],
                automation_condition=automation.campaigns(cadences),
                kinds={"duckdb"},
                owners=OWNERS,
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
                kinds={"duckdb"},
                owners=OWNERS,
                tags={"layer": "activation"},
                description="History: who was in which campaign, in which group (treatment / control), in which run.",
            ),
        ],
    )
    def campaign_audiences(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        name = context.partition_key
        # Analyst SQL runs on the locked-down read-only connection; only the plan's rows are written.
        with audience_connection(duckdb) as con:
            plan = plan_activation(con, name, audiences, datetime.now(UTC))
        with duckdb.get_connection() as con:
            report = write_activation(con, plan, audiences, context.run.run_id)
            runs, rows = con.execute(
                "SELECT count(DISTINCT run_id), count(*) FROM campaign_recipients WHERE campaign = ?",
                [name],
            ).fetchone()
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
