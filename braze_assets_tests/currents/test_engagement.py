import zlib
from datetime import UTC, datetime, timedelta

import pytest

from braze_assets.currents.ingest import ingest_objects
from braze_assets.currents.schemas import writer_schema
from braze_assets.engagement.attributes import build_engagement_attributes

from .avro_helpers import avro_bytes, random_records
from .conftest import PREFIX

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 11, 29, 12, tzinfo=UTC)


def event(event_type, days_ago, user_id, external_user_id, **fields):
    record = random_records(
        writer_schema(event_type), 1, seed=zlib.crc32(f"{event_type}{days_ago}{user_id}".encode())
    )[0]
    record.update(
        user_id=user_id,
        external_user_id=external_user_id,
        time=int((AS_OF - timedelta(days=days_ago)).timestamp()),
    )
    record["id"] = f"{event_type}-{days_ago}-{user_id}-{sorted(fields.items())}"
    record.update(fields)
    return event_type, record


EVENTS = [
    event("users.messages.email.Send", 10, "ba", "a"),
    event("users.messages.email.Open", 10, "ba", "a", machine_open=None),
    event("users.messages.email.Open", 1, "ba", "a", machine_open="true"),
    event("users.messages.email.Open", 45, "ba", "a", machine_open="false"),
    event("users.messages.email.Click", 40, "ba", "a"),
    event("users.messages.email.Click", 3, "ba", "a"),
    event("users.messages.email.Bounce", 20, "ba", "a"),
    event("users.messages.email.SoftBounce", 21, "ba", "a"),
    event("users.messages.email.Unsubscribe", 2, "ba", "a"),
    event(
        "users.behaviors.subscription.GlobalStateChange",
        2,
        "ba",
        "a",
        subscription_status="Unsubscribed",
        channel="email",
    ),
    event(
        "users.behaviors.subscription.GlobalStateChange",
        2,
        "ba",
        "a",
        subscription_status="Subscribed",
        channel="email",
    ),
    event("users.behaviors.CustomEvent", 5, "ba", "a"),
    event("users.behaviors.CustomEvent", 60, "ba", "a"),
    event("users.behaviors.Purchase", 2, "ba", "a", price=10.0),
    event("users.behaviors.Purchase", 100, "ba", "a", price=5.0),
    event("users.behaviors.app.SessionStart", 1, "ba", "a"),
    event("users.behaviors.app.SessionStart", -1, "ba", "a"),  # after as_of: not counted
    # Braze knows "bb" only by braze id at first; a later event links it to external id "b".
    event("users.behaviors.app.SessionStart", 3, "bb", None),
    event("users.behaviors.app.SessionStart", 50, "bb", None),
    event("users.behaviors.CustomEvent", 1, "bb", "b"),
    # Never linked: cannot be joined to a customer.
    event("users.behaviors.app.SessionStart", 3, "bc", None),
]


def load_events(bucket, con, events) -> None:
    """Each event as a Currents Avro file of its own in the bucket, loaded into `con` as the
    currents assets load them."""
    keys = []
    for index, (event_type, record) in enumerate(events):
        key = f"{PREFIX}/c/event_type={event_type}/date=2026-11-20-00/version=10/production/c+0+{index}.avro"
        bucket.s3.put_object(
            Bucket=bucket.bucket, Key=key, Body=avro_bytes(writer_schema(event_type), [record])
        )
        keys.append(key)
    ingest_objects(con, bucket, keys)


@pytest.fixture
def loaded(bucket, warehouse):
    load_events(bucket, warehouse, EVENTS)
    return warehouse


def test_engagement_attributes_per_customer(loaded):
    assert build_engagement_attributes(loaded, AS_OF) == 2
    rows = {r["external_user_id"]: r for r in _rows(loaded)}
    a, b = rows["a"], rows["b"]
    assert a["user_id"] == "ba"
    assert a["last_email_open_at"] == AS_OF - timedelta(
        days=10
    )  # the machine open a day ago is not a person
    assert (a["email_opens_30d"], a["email_opens_90d"]) == (1, 2)
    assert a["last_email_click_at"] == AS_OF - timedelta(days=3)
    assert (a["email_clicks_30d"], a["email_clicks_90d"]) == (1, 2)
    assert (a["email_sends_30d"], a["email_hard_bounces"], a["email_soft_bounces"]) == (1, 1, 1)
    assert a["email_unsubscribes"] == 2
    assert (a["custom_events_30d"], a["custom_events_90d"]) == (1, 2)
    assert (a["purchases_30d"], a["purchases_90d"], a["purchase_revenue_90d"]) == (1, 1, 10.0)
    assert a["last_purchase_at"] == AS_OF - timedelta(days=2)
    assert (a["sessions_30d"], a["sessions_90d"]) == (1, 1)
    assert a["last_event_at"] == AS_OF - timedelta(days=1)
    assert b["user_id"] == "bb"
    assert (b["sessions_30d"], b["sessions_90d"], b["custom_events_30d"]) == (1, 2, 1)
    assert b["last_email_open_at"] is None and b["email_opens_90d"] == 0


def test_empty_warehouse_gives_an_empty_table(warehouse):
    assert build_engagement_attributes(warehouse, AS_OF) == 0


def test_as_of_must_be_aware(warehouse):
    with pytest.raises(ValueError, match="timezone-aware"):
        build_engagement_attributes(warehouse, datetime(2026, 11, 29))


def _rows(con):
    cursor = con.execute("SELECT * FROM engagement_attributes")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
