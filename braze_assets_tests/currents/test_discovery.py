from datetime import UTC, date, datetime

import pytest

from braze_assets.currents.discovery import day_objects, discover, type_folders
from braze_assets.currents.s3 import CurrentsBucket

from .conftest import PREFIX

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
NEW = "dataexport.prod-03.S3.integration.aaa"
OLD = "dataexport.prod-03.S3.integration.bbb"


def key(event_type, hour, offset, connector=NEW, layout="version=10/production"):
    return f"{PREFIX}/{connector}/event_type={event_type}/date={hour}/{layout}/{connector}+0+{offset}.avro"


def put(s3_client, bucket_name, k, body=b"avro"):
    s3_client.put_object(Bucket=bucket_name, Key=k, Body=body)
    return k


@pytest.fixture
def files(s3_client, bucket_name):
    return [
        put(s3_client, bucket_name, key("users.messages.email.Open", "2026-11-27-13", 9000)),
        put(s3_client, bucket_name, key("users.messages.email.Open", "2026-11-28-05", 0)),
        put(
            s3_client,
            bucket_name,
            key("users.behaviors.Purchase", "2026-11-29-11", 0, OLD, "327/us-east-1"),
        ),
        put(
            s3_client, bucket_name, key("users.behaviors.Purchase", "2026-11-20-11", 0)
        ),  # outside the window
        put(s3_client, bucket_name, f"{PREFIX}/{NEW}/notes.txt"),
    ]


def test_type_folders_found_under_every_connector(bucket, files):
    assert type_folders(bucket) == [
        f"{PREFIX}/{NEW}/event_type=users.behaviors.Purchase/",
        f"{PREFIX}/{NEW}/event_type=users.messages.email.Open/",
        f"{PREFIX}/{OLD}/event_type=users.behaviors.Purchase/",
    ]
    nested = CurrentsBucket(bucket.s3, bucket.bucket, "")
    assert len(type_folders(nested)) == 3


def test_new_files_then_nothing_then_a_new_and_a_late_file(s3_client, bucket_name, bucket, files):
    first = discover(bucket, None, now=NOW)
    assert [c.partition_key for c in first.changes] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert [o.key for c in first.changes for o in c.objects] == [files[0], files[1], files[2]]
    issued = {c.partition_key: c.run_key for c in first.changes}

    second = discover(bucket, first.cursor, now=NOW)
    assert second.changes == []

    put(
        s3_client,
        bucket_name,
        key("users.behaviors.Purchase", "2026-11-29-12", 4, OLD, "327/us-east-1"),
    )
    # Late: lands in an older day, and its unpadded offset sorts before the folder's existing file.
    late = put(s3_client, bucket_name, key("users.messages.email.Open", "2026-11-27-13", 12000))
    third = discover(bucket, second.cursor, now=NOW)
    assert [c.partition_key for c in third.changes] == ["2026-11-27", "2026-11-29"]
    late_change = third.changes[0]
    assert late in [o.key for o in late_change.objects]
    assert late_change.run_key != issued["2026-11-27"]
    assert third.changes[1].run_key != issued["2026-11-29"]

    # A re-written file (new etag) is a change too.
    put(s3_client, bucket_name, files[1], body=b"avro, written again")
    assert [c.partition_key for c in discover(bucket, third.cursor, now=NOW).changes] == [
        "2026-11-28"
    ]


def test_lost_cursor_gives_the_same_run_keys_for_the_same_content(bucket, files):
    first = discover(bucket, None, now=NOW)
    again = discover(bucket, "not json", now=NOW)
    assert [c.run_key for c in again.changes] == [c.run_key for c in first.changes]


def test_lookback_window_bounds_the_listing(bucket, files):
    narrow = discover(bucket, None, now=NOW, lookback_hours=2)
    assert [c.partition_key for c in narrow.changes] == ["2026-11-29"]
    assert narrow.listed == 1


def test_day_objects_lists_one_whole_day(s3_client, bucket_name, bucket, files):
    extra = put(s3_client, bucket_name, key("users.messages.email.Open", "2026-11-27-23", 1))
    assert sorted(o.key for o in day_objects(bucket, date(2026, 11, 27))) == sorted(
        [files[0], extra]
    )
    assert [o.key for o in day_objects(bucket, date(2026, 11, 20))] == [files[3]]
