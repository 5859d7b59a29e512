"""The campaign test-run job (cadences are automation conditions: defs/automation.py)."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.attributes import DestinationConfig
from braze_assets.audiences import AudiencesConfig, preview_campaign
from braze_assets.defs.audiences.assets import activation_partitions
from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.resources import audience_connection

TEST_RUN_JOB = "campaign_test_run"


def build_test_run_job(
    audiences: AudiencesConfig, destinations: Sequence[DestinationConfig] = ()
) -> dg.JobDefinition:
    by_name = {d.name: d for d in destinations}

    @dg.op(
        pool=WAREHOUSE_POOL,
        description="Evaluate the campaign and show the first records' Braze payloads; nothing is written or sent.",
    )
    def campaign_test_run_op(context: dg.OpExecutionContext, duckdb: DuckDBResource):
        name = context.partition_key
        with audience_connection(duckdb) as con:
            destination = by_name.get(audiences.activation(name).destination)
            records = preview_campaign(
                con, name, audiences, datetime.now(UTC), destination=destination
            )
        for record in records:
            context.log.info(f"{record['change']}: {record['payload']}")
        changes = {c: sum(r["change"] == c for r in records) for c in ("join", "stay", "leave")}
        unidentified = sum(not r["identified"] for r in records)
        if unidentified:
            context.log.warning(
                f"{unidentified} of {len(records)} records have no Braze identifier yet and would not be sent"
            )
        yield dg.Output(
            None,
            metadata={
                "records": dg.MetadataValue.int(len(records)),
                "without_identifier": dg.MetadataValue.int(unidentified),
                **{f"{c}s_shown": dg.MetadataValue.int(n) for c, n in changes.items()},
                "payloads": dg.MetadataValue.json(records),
            },
        )

    @dg.job(
        name=TEST_RUN_JOB,
        partitions_def=activation_partitions(audiences),
        description="Test run of one campaign / orchestration: N records and the payloads they would produce, nothing sent.",
    )
    def campaign_test_run():
        campaign_test_run_op()

    return campaign_test_run
