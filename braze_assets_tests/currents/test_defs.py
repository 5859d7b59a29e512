"""The Dagster wiring over the local S3: sensor ticks, a partition run with its check, engagement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets.currents.config import CurrentsConfig
from braze_assets.currents.demo_writer import write_demo_currents
from braze_assets.currents.local_s3 import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY
from braze_assets.defs.currents.assets import build_currents_events_asset
from braze_assets.defs.currents.checks import build_currents_checks
from braze_assets.defs.currents.partitions import event_date_partitions
from braze_assets.defs.currents.resources import CurrentsS3Resource, currents_s3_resource_from_env
from braze_assets.defs.currents.sensors import build_currents_sensor
from braze_assets.defs.engagement.assets import build_engagement_assets

from .conftest import PREFIX

pytestmark = pytest.mark.integration

CONFIG = CurrentsConfig(start_date="2026-01-01", lookback_hours=72)
USERS = [{"external_id": f"cust-{i:04d}", "email": f"person{i}@example.com"} for i in range(30)]


def resource(local_s3, bucket_name) -> CurrentsS3Resource:
    return CurrentsS3Resource(
        bucket=bucket_name,
        prefix=PREFIX,
        endpoint_url=local_s3.endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
    )


def write(s3_client, bucket_name, start, hours=1, seed=1):
    return write_demo_currents(
        s3_client,
        bucket_name,
        PREFIX,
        USERS,
        start=start,
        hours=hours,
        seed=seed,
        events_per_hour=40,
        duplicate_share=0.1,
        codec="snappy",
        flush_seconds=3600,
    )


@pytest.fixture
def events_asset():
    return build_currents_events_asset(CONFIG, event_date_partitions(CONFIG))


def tick(sensor, cursor, currents_s3):
    with dg.build_sensor_context(cursor=cursor, resources={"currents_s3": currents_s3}) as context:
        result = sensor(context)
    return result.run_requests, result.cursor


def test_sensor_requests_each_date_once_and_again_for_a_late_file(
    local_s3, s3_client, bucket_name, events_asset
):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    yesterday, today = now - timedelta(hours=26), now - timedelta(hours=1)
    yesterday_keys = write(s3_client, bucket_name, yesterday, seed=1)
    write(s3_client, bucket_name, today, seed=2)
    sensor = build_currents_sensor(CONFIG, events_asset)
    currents_s3 = resource(local_s3, bucket_name)

    first, cursor = tick(sensor, None, currents_s3)
    dates = sorted({yesterday.date().isoformat(), today.date().isoformat()})
    assert sorted(r.partition_key for r in first) == dates
    assert all(r.run_key and r.partition_key in r.run_key for r in first)

    again, cursor = tick(sensor, cursor, currents_s3)
    assert again == []

    # A late (re-delivered) file for yesterday's hour, under a new offset: yesterday runs again.
    body = s3_client.get_object(Bucket=bucket_name, Key=yesterday_keys[0])["Body"].read()
    s3_client.put_object(
        Bucket=bucket_name, Key=yesterday_keys[0].replace("+0+0.avro", "+0+98765.avro"), Body=body
    )
    rerun, cursor = tick(sensor, cursor, currents_s3)
    assert [r.partition_key for r in rerun] == [yesterday.date().isoformat()]
    assert rerun[0].run_key not in {r.run_key for r in first}

    # Losing the cursor re-requests the same content under the same run keys (Dagster skips them).
    replay, _ = tick(sensor, None, currents_s3)
    assert {r.run_key for r in replay} <= {r.run_key for r in first + rerun}


def test_partition_run_loads_the_day_and_the_check_reports_a_corrupt_file(
    local_s3, s3_client, bucket_name, events_asset, tmp_path
):
    day_start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    keys = write(s3_client, bucket_name, day_start, hours=2)
    write(s3_client, bucket_name, day_start + timedelta(days=1), seed=9)  # another day: not loaded
    corrupt = keys[0].replace("+0+0.avro", "+0+999999.avro")
    s3_client.put_object(Bucket=bucket_name, Key=corrupt, Body=b"Obj\x01 truncated")
    resources = {
        "duckdb": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "currents_s3": resource(local_s3, bucket_name),
    }

    result = dg.materialize(
        [events_asset, *build_currents_checks()], partition_key="2026-11-20", resources=resources
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("currents_events")
    metadata = materialization.metadata
    assert metadata["files_loaded"].value == len(keys)
    assert metadata["files_quarantined"].value == 1
    assert metadata["duplicate_events_dropped"].value > 0
    assert metadata["events_dated_this_day"].value == metadata["dagster/row_count"].value > 0
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert corrupt in check.metadata["files"].value

    # Materialising the same day again reads nothing new.
    again = dg.materialize([events_asset], partition_key="2026-11-20", resources=resources)
    [materialization] = again.asset_materializations_for_node("currents_events")
    assert materialization.metadata["files_loaded"].value == 0
    assert materialization.metadata["files_already_loaded"].value == len(keys) + 1

    engagement = dg.materialize(
        build_engagement_assets(), resources={"duckdb": resources["duckdb"]}
    )
    assert engagement.success
    [materialization] = engagement.asset_materializations_for_node("engagement_attributes")
    assert 0 < materialization.metadata["dagster/row_count"].value <= len(USERS)


def test_resource_from_env_honours_aws_endpoint_url(local_s3, s3_client, bucket_name, monkeypatch):
    write(s3_client, bucket_name, datetime(2026, 11, 20, 9, tzinfo=UTC))
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.setenv("CURRENTS_S3_BUCKET", bucket_name)
    monkeypatch.setenv("CURRENTS_S3_PREFIX", PREFIX)
    bucket = currents_s3_resource_from_env().process_config_and_initialize().currents_bucket()
    assert (bucket.bucket, bucket.prefix) == (bucket_name, PREFIX)
    assert bucket.list_new(None, max_keys=1)
