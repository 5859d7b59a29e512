"""The Dagster layer: one partition per campaign, size metadata, schedules per cadence, the test-run job."""

from __future__ import annotations

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from braze_assets.defs.audiences.assets import (
    MEMBERS_ASSET,
    RECIPIENTS_ASSET,
    build_audience_assets,
)
from braze_assets.defs.audiences.jobs import build_schedules, build_test_run_job

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


def test_schedules_follow_the_cadence_and_start_stopped():
    audiences = load(AUDIENCES)
    schedules = {s.name: s for s in build_schedules(audiences)}
    assert set(schedules) == {
        "boston_mail_schedule",
        "big_sync_schedule",
    }  # "adhoc" runs once, by hand
    assert schedules["boston_mail_schedule"].cron_schedule == "0 6 * * 1"
    assert schedules["big_sync_schedule"].cron_schedule == "15 8 * * *"
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in schedules.values())
    repo = dg.Definitions(
        assets=[build_audience_assets(audiences)],
        schedules=list(schedules.values()),
        resources={"duckdb": DuckDBResource(database=":memory:")},
    ).get_repository_def()
    tick = repo.get_schedule_def("big_sync_schedule").evaluate_tick(
        dg.build_schedule_context(repository_def=repo)
    )
    assert [r.partition_key for r in tick.run_requests] == ["big_sync"]


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
