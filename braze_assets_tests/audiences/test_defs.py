"""The Dagster layer: one partition per campaign, size metadata, automation per cadence, the test-run job."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from braze_assets.defs.audiences.assets import (
    MEMBERS_ASSET,
    RECIPIENTS_ASSET,
    build_audience_assets,
)
from braze_assets.defs.audiences.jobs import build_test_run_job

from .conftest import load

AUDIENCES = {
    "segments": [
        {"name": "bostonians", "where": {"column": "city", "op": "=", "value": "Boston"}},
        {"name": "one_time_buyers", "where": {"column": "one_and_done", "op": "=", "value": True}},
    ],
    "sql_audiences": [
        {
            "name": "big",
            "sql": "SELECT customer_id FROM customer_attribute_source WHERE l12m_revenue > 1000",
        }
    ],
    "campaigns": [
        {
            "name": "boston_mail",
            "segments": ["bostonians"],
            "exclude": ["one_time_buyers"],
            "destination": "braze",
            "cadence": "weekly",
        },
        {"name": "adhoc", "segments": ["bostonians"], "destination": "braze"},
    ],
    "orchestrations": [
        {"name": "big_sync", "sql_audience": "big", "destination": "braze", "cadence": "15 8 * * *"}
    ],
}


def _materialization(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    ]
    assert len(events) == 1
    return events[0].materialization.metadata


def test_each_campaign_is_a_partition_with_size_metadata(warehouse):
    audiences = load(AUDIENCES)
    asset = build_audience_assets(audiences)
    assert set(asset.partitions_def.get_partition_keys()) == {"boston_mail", "adhoc", "big_sync"}
    resources = {"duckdb": DuckDBResource(database=str(warehouse))}
    result = dg.materialize([asset], partition_key="boston_mail", resources=resources)
    metadata = _materialization(result, MEMBERS_ASSET)
    # Boston: c1 c2 c8; c8 is a one-time buyer
    assert (
        metadata["audience_size"].value == 2
        and metadata["joins"].value == 2
        and metadata["leaves"].value == 0
    )
    assert metadata["excluded"].value == 1 and metadata["control_group_size"].value == 0
    assert _materialization(result, RECIPIENTS_ASSET)["history_rows"].value == 2

    result = dg.materialize([asset], partition_key="big_sync", resources=resources)
    assert _materialization(result, MEMBERS_ASSET)["audience_size"].value == 2
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT campaign, count(*) FROM audience_members GROUP BY 1 ORDER BY 1"
        ).fetchall() == [("big_sync", 2), ("boston_mail", 2)]


def test_each_campaign_is_refreshed_on_its_own_cadence_after_new_attributes():
    audiences = load(AUDIENCES)  # boston_mail weekly (Monday 06:00), big_sync 08:15, adhoc once
    defs = dg.Definitions(
        assets=[dg.AssetSpec("braze_customer_attributes"), build_audience_assets(audiences)],
        resources={"duckdb": DuckDBResource(database=":memory:")},
    )
    monday = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("braze_customer_attributes"))
        for name in ("boston_mail", "big_sync", "adhoc"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(MEMBERS_ASSET, partition=name)
            )
        cursor = dg.evaluate_automation_conditions(
            defs, instance, evaluation_time=monday.replace(hour=5)
        ).cursor

        def tick(when):
            nonlocal cursor
            result = dg.evaluate_automation_conditions(
                defs, instance, evaluation_time=when, cursor=cursor
            )
            cursor = result.cursor
            requested = result.get_requested_partitions(dg.AssetKey(MEMBERS_ASSET))
            for name in requested:  # the runs the sensor would launch
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(MEMBERS_ASSET, partition=name)
                )
            return requested

        # The cadences ticked, but the customer attributes are older than the ticks.
        assert tick(monday.replace(hour=9)) == set()
        instance.report_runless_asset_event(dg.AssetMaterialization("braze_customer_attributes"))
        assert tick(monday.replace(hour=9, minute=1)) == {"boston_mail", "big_sync"}
        assert tick(monday.replace(hour=9, minute=2)) == set()  # handled
        # Tuesday: new attributes after 08:15 refresh the daily campaign only.
        instance.report_runless_asset_event(dg.AssetMaterialization("braze_customer_attributes"))
        assert tick(monday + dt.timedelta(days=1, hours=9)) == {"big_sync"}


def test_test_run_job_shows_payloads_and_writes_nothing(warehouse):
    audiences = load(AUDIENCES)
    job = build_test_run_job(audiences)
    result = job.execute_in_process(
        partition_key="boston_mail", resources={"duckdb": DuckDBResource(database=str(warehouse))}
    )
    assert result.success
    outputs = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = outputs[0].event_specific_data.metadata
    assert metadata["records"].value == 2
    assert [r["payload"] for r in metadata["payloads"].value] == [
        {"in_boston_mail": True},
        {"in_boston_mail": True},
    ]
    assert (
        metadata["without_identifier"].value == 2
    )  # no braze_customer_attributes in this warehouse
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audience_members'"
            ).fetchone()[0]
            == 0
        )
