import io
from collections import Counter
from datetime import UTC, datetime

import fastavro
import pytest

from braze_assets.currents.demo_writer import braze_id, write_demo_currents
from braze_assets.currents.keys import parse_key
from braze_assets.currents.schemas import writer_schema

from .conftest import PREFIX

pytestmark = pytest.mark.integration

USERS = [{"external_id": f"cust-{i:04d}", "email": f"person{i}@example.com"} for i in range(25)]


def write(s3_client, bucket_name, **overrides):
    options = dict(
        start=datetime(2026, 11, 29, 8, 30, tzinfo=UTC),
        hours=2,
        seed=5,
        events_per_hour=100,
        duplicate_share=0.2,
        codec="snappy",
    )
    return write_demo_currents(s3_client, bucket_name, PREFIX, USERS, **{**options, **overrides})


def test_demo_files_look_like_braze_currents(s3_client, bucket_name):
    keys = write(s3_client, bucket_name)
    parsed = [parse_key(k) for k in keys]
    assert all(p is not None and p.key.startswith(PREFIX + "/") for p in parsed)
    assert {p.layout for p in parsed} == {"v2", "legacy"}
    assert Counter(p.layout for p in parsed)["legacy"] < len(keys) / 4
    assert {p.event_type for p in parsed} >= {
        "users.messages.email.Send",
        "users.messages.email.Delivery",
        "users.messages.email.Open",
        "users.messages.email.Click",
        "users.behaviors.CustomEvent",
        "users.behaviors.Purchase",
        "users.behaviors.app.SessionStart",
    }
    ids: Counter = Counter()
    for p in parsed:
        reader = fastavro.reader(
            io.BytesIO(s3_client.get_object(Bucket=bucket_name, Key=p.key)["Body"].read())
        )
        assert reader.codec == "snappy"
        assert [(f["name"], f["type"]) for f in reader.writer_schema["fields"]] == [
            (f["name"], f["type"]) for f in writer_schema(p.event_type)["fields"]
        ]
        records = list(reader)
        assert records, "Braze never writes empty files"
        for record in records:
            ids[record["id"]] += 1
            assert record["user_id"] == braze_id(record["external_user_id"])
            # a file holds its own hour's events, plus re-delivered earlier ones
            assert record["time"] < p.hour.timestamp() + 3600
    assert any(n > 1 for n in ids.values()), "some events are delivered twice"


def test_same_seed_same_files(s3_client, bucket_name):
    first = write(s3_client, bucket_name, codec="null", hours=1)
    body = s3_client.get_object(Bucket=bucket_name, Key=first[0])["Body"].read()
    assert write(s3_client, bucket_name, codec="null", hours=1) == first
    assert s3_client.get_object(Bucket=bucket_name, Key=first[0])["Body"].read() == body


def test_needs_users(s3_client, bucket_name):
    with pytest.raises(ValueError, match="at least one user"):
        write_demo_currents(s3_client, bucket_name, PREFIX, [], start=datetime.now(UTC), hours=1)
