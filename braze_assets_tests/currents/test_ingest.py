from datetime import UTC, date, datetime

import pytest

from braze_assets.currents.demo_writer import write_demo_currents
from braze_assets.currents.ingest import ingest_objects
from braze_assets.currents.keys import parse_key
from braze_assets.currents.schemas import sample_files, writer_schema

from .avro_helpers import avro_bytes, random_records
from .conftest import PREFIX

pytestmark = pytest.mark.integration

USERS = [{"external_id": f"cust-{i:04d}", "email": f"person{i}@example.com"} for i in range(40)]
START = datetime(2026, 11, 28, 23, tzinfo=UTC)


def demo(s3_client, bucket_name, **overrides):
    options = dict(
        start=START,
        hours=2,
        seed=11,
        events_per_hour=150,
        duplicate_share=0.1,
        codec="deflate",
        flush_seconds=1200,
    )
    return write_demo_currents(s3_client, bucket_name, PREFIX, USERS, **{**options, **overrides})


def put(
    s3_client, bucket_name, event_type, records, *, hour="2026-11-29-10", name="c+0+0", codec="null"
):
    key = f"{PREFIX}/c/event_type={event_type}/date={hour}/version=10/production/{name}.avro"
    s3_client.put_object(
        Bucket=bucket_name, Key=key, Body=avro_bytes(writer_schema(event_type), records, codec)
    )
    return key


def count(con, sql="SELECT count(*) FROM currents_events"):
    return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_demo_files_load_once_each_event_once(s3_client, bucket_name, bucket, warehouse, codec):
    keys = demo(s3_client, bucket_name, codec=codec)
    report = ingest_objects(warehouse, bucket, keys, batch_rows=100)
    assert len(report.loaded) == len(keys) and not report.quarantined
    assert report.duplicates > 0, "the demo re-delivers events; some must have been dropped"
    assert (
        count(warehouse)
        == report.inserted
        == count(warehouse, "SELECT count(DISTINCT (event_type, event_id)) FROM currents_events")
    )
    assert report.event_dates == [date(2026, 11, 28), date(2026, 11, 29)]
    files = warehouse.execute(
        "SELECT count(*), sum(rows), sum(inserted) FROM currents_files WHERE status='loaded'"
    ).fetchone()
    assert files == (len(keys), report.rows, report.inserted)

    again = ingest_objects(warehouse, bucket, keys)
    listed = ingest_objects(warehouse, bucket, bucket.iter_objects())
    assert again.files == [] and sorted(again.skipped) == sorted(keys)
    assert listed.files == [] and len(listed.skipped) == len(keys)
    assert count(warehouse) == report.inserted


def test_partition_by_partition_ingest_equals_all_at_once(s3_client, bucket_name, bucket, tmp_path):
    import duckdb

    keys = demo(s3_client, bucket_name)
    by_day: dict[str, list[str]] = {}
    for key in keys:
        by_day.setdefault(parse_key(key).partition_key, []).append(key)
    assert len(by_day) == 2
    split = duckdb.connect(str(tmp_path / "split.duckdb"))
    for day in sorted(
        by_day, reverse=True
    ):  # the later day first: duplicates cross partitions both ways
        ingest_objects(split, bucket, by_day[day])
    whole = duckdb.connect(str(tmp_path / "whole.duckdb"))
    ingest_objects(whole, bucket, keys)
    query = "SELECT event_id, event_type, event_time FROM currents_events ORDER BY event_id"
    assert split.execute(query).fetchall() == whole.execute(query).fetchall()


def test_redelivered_file_under_a_new_key_does_not_double_count(
    s3_client, bucket_name, bucket, warehouse
):
    records = random_records(writer_schema("users.messages.email.Open"), 30)
    first = put(s3_client, bucket_name, "users.messages.email.Open", records, name="c+0+0")
    again = put(
        s3_client,
        bucket_name,
        "users.messages.email.Open",
        records[10:],
        hour="2026-11-30-01",
        name="c+0+30",
    )
    report = ingest_objects(warehouse, bucket, [first, again])
    assert count(warehouse) == 30 and report.duplicates == 20
    ledger = dict(warehouse.execute("SELECT key, inserted FROM currents_files").fetchall())
    assert ledger == {first: 30, again: 0}


def test_duplicates_inside_one_batch_keep_the_first_copy(s3_client, bucket_name, bucket, warehouse):
    records = random_records(writer_schema("users.behaviors.CustomEvent"), 5)
    changed = [{**r, "name": "second-copy"} for r in records]
    a = put(s3_client, bucket_name, "users.behaviors.CustomEvent", records, name="c+0+0")
    b = put(s3_client, bucket_name, "users.behaviors.CustomEvent", changed, name="c+0+5")
    ingest_objects(warehouse, bucket, [a, b])
    assert {
        r[0] for r in warehouse.execute("SELECT extra->>'name' FROM currents_events").fetchall()
    } == {r["name"] for r in records}


def test_corrupt_and_truncated_files_are_quarantined_and_the_rest_loads(
    s3_client, bucket_name, bucket, warehouse
):
    schema = writer_schema("users.messages.email.Click")

    def clicks(n: int, seed: int, name: str) -> str:
        records = random_records(schema, n, seed=seed)
        return put(s3_client, bucket_name, "users.messages.email.Click", records, name=name)

    good = clicks(50, 1, "c+0+0")
    whole = avro_bytes(schema, random_records(schema, 400, seed=2), "snappy")
    truncated = f"{PREFIX}/c/event_type=users.messages.email.Click/date=2026-11-29-10/version=10/production/c+0+50.avro"
    s3_client.put_object(Bucket=bucket_name, Key=truncated, Body=whole[: len(whole) * 2 // 3])
    garbage = truncated.replace("c+0+50", "c+0+450")
    s3_client.put_object(Bucket=bucket_name, Key=garbage, Body=b"<html>Access Denied</html>")
    later = clicks(20, 3, "c+0+900")

    report = ingest_objects(warehouse, bucket, [good, truncated, garbage, later])
    assert [f.key for f in report.loaded] == [good, later]
    assert {f.key for f in report.quarantined} == {truncated, garbage}
    assert all(f.error for f in report.quarantined)
    assert count(warehouse) == 70
    rows = warehouse.execute(
        "SELECT key, status, error FROM currents_files WHERE status='quarantined'"
    ).fetchall()
    assert {r[0] for r in rows} == {truncated, garbage} and all(r[2] for r in rows)

    # A quarantined file is not retried while unchanged; fixed (new etag) it loads.
    assert set(ingest_objects(warehouse, bucket, [truncated, garbage]).skipped) == {
        truncated,
        garbage,
    }
    s3_client.put_object(Bucket=bucket_name, Key=truncated, Body=whole)
    fixed = ingest_objects(warehouse, bucket, [truncated])
    assert [f.status for f in fixed.files] == ["loaded"] and count(warehouse) == 470


def test_non_currents_keys_are_ignored(s3_client, bucket_name, bucket, warehouse):
    s3_client.put_object(Bucket=bucket_name, Key=f"{PREFIX}/README.txt", Body=b"hi")
    report = ingest_objects(warehouse, bucket, [f"{PREFIX}/README.txt"])
    assert report.ignored == [f"{PREFIX}/README.txt"] and report.files == []


def put_samples(s3_client, bucket_name, hour, name):
    """Braze's 94 public sample files (one event each, all with the same placeholder id) in Braze's
    key layout under one `date=` folder; returns {event type: key}."""
    keys = {}
    for event_type, path in sorted(sample_files().items()):
        key = f"{PREFIX}/c/event_type={event_type}/date={hour}/version=10/production/{name}.avro"
        s3_client.put_object(Bucket=bucket_name, Key=key, Body=path.read_bytes())
        keys[event_type] = key
    return keys


def test_all_94_sample_files_load_one_event_each_and_once(
    s3_client, bucket_name, bucket, warehouse
):
    # Every sample carries the same event id, so dedupe on id alone kept 1 (or 2 over two days).
    day = put_samples(s3_client, bucket_name, "2026-11-29-10", "c+0+0")
    assert len(day) == 94
    # Re-delivered: the same day under another file name, and in the next day's folder.
    same_day = put_samples(s3_client, bucket_name, "2026-11-29-13", "c+0+1")
    next_day = put_samples(s3_client, bucket_name, "2026-11-30-02", "c+0+2")

    first = ingest_objects(warehouse, bucket, [*day.values(), *same_day.values()], batch_rows=40)
    assert len(first.loaded) == 188 and not first.quarantined
    assert first.inserted == 94 and first.duplicates == 94
    # The next day's partition on its own: every event is already stored.
    second = ingest_objects(warehouse, bucket, list(next_day.values()))
    assert len(second.loaded) == 94 and second.inserted == 0
    assert warehouse.execute(
        "SELECT count(*), count(DISTINCT event_type), count(DISTINCT event_id) FROM currents_events"
    ).fetchone() == (94, 94, 1)
    ledger = dict(warehouse.execute("SELECT key, inserted FROM currents_files").fetchall())
    assert sorted(ledger[k] for k in day.values()) == [1] * 94, "one stored event per file"
    assert {ledger[k] for k in [*same_day.values(), *next_day.values()]} == {0}


def test_many_event_types_sharing_ids_in_one_day_keep_every_event(
    s3_client, bucket_name, bucket, warehouse
):
    types = [
        "users.messages.email.Open",
        "users.messages.email.Click",
        "users.messages.email.Send",
        "users.behaviors.CustomEvent",
        "users.behaviors.Purchase",
        "users.messages.pushnotification.Send",
    ]
    noon = int(datetime(2026, 11, 29, 12, tzinfo=UTC).timestamp())

    def records(event_type, ids):
        base = random_records(writer_schema(event_type), len(ids))
        return [
            {**r, "id": f"shared-{i}", "time": noon + i} for r, i in zip(base, ids, strict=True)
        ]

    ids = range(8)
    # One call, one chunk: six types, each with the same eight ids.
    keys = [
        put(s3_client, bucket_name, t, records(t, ids), name=f"c+{n}+0")
        for n, t in enumerate(types)
    ]
    # The same (type, id) re-delivered in another file of the same day, in the same call.
    keys.append(put(s3_client, bucket_name, types[0], records(types[0], ids[:3]), name="c+9+0"))
    report = ingest_objects(warehouse, bucket, keys)
    assert report.inserted == 48 and report.duplicates == 3 and count(warehouse) == 48

    # Another day's folder (another partition, another call): re-delivered copies of two types that
    # are stored, beside a new type with the same ids that is not. Copies go; the new type stays.
    later = [
        put(s3_client, bucket_name, t, records(t, ids), hour="2026-11-30-01", name="c+0+8")
        for t in [types[1], types[2], "users.messages.sms.Delivery"]
    ]
    again = ingest_objects(warehouse, bucket, later)
    assert again.inserted == 8 and again.duplicates == 16 and count(warehouse) == 56
    per_type = warehouse.execute(
        "SELECT count(DISTINCT event_type), max(n), min(n) FROM "
        "(SELECT event_type, event_id, count(*) n FROM currents_events GROUP BY ALL)"
    ).fetchone()
    assert per_type == (7, 1, 1), "each (type, id) stored exactly once"


def test_json_columns_are_queryable(s3_client, bucket_name, bucket, warehouse):
    schema = writer_schema("users.behaviors.Purchase")
    records = random_records(schema, 2)
    records[0]["properties"] = '{"quantity": 3, "coupon": "WINTER10"}'
    records[1]["properties"] = "not json {"
    ingest_objects(
        warehouse, bucket, [put(s3_client, bucket_name, "users.behaviors.Purchase", records)]
    )
    values = warehouse.execute(
        "SELECT properties->>'coupon', (properties->>'quantity')::INT, properties::VARCHAR FROM currents_events ORDER BY event_id"
    ).fetchall()
    assert values[0][:2] == ("WINTER10", 3)
    assert values[1][2] == '"not json {"'  # kept, as a JSON string


def test_an_id_shared_by_two_event_types_keeps_both_events(
    s3_client, bucket_name, bucket, warehouse
):
    # Braze promises globally unique ids; if two types ever shared one, neither event may be lost.
    # Two calls with one type each: the probe scans only the chunk's own type, so this alone did not
    # catch dedupe on id (see the tests above, which mix types in one chunk and across calls).
    opens = random_records(writer_schema("users.messages.email.Open"), 5)
    clicks = [
        {
            **record,
            "id": opens[i]["id"],
            "time": opens[i]["time"],
        }  # same id, same day: only the type differs
        for i, record in enumerate(random_records(writer_schema("users.messages.email.Click"), 5))
    ]
    first = put(s3_client, bucket_name, "users.messages.email.Open", opens)
    ingest_objects(warehouse, bucket, [first])
    second = put(s3_client, bucket_name, "users.messages.email.Click", clicks)
    report = ingest_objects(warehouse, bucket, [second])
    assert report.inserted == 5 and count(warehouse) == 10
