"""Lifecycle endpoints of the sandbox through BrazeClient over HTTP: merge, delete, aliases,
identify, events and purchases in /users/track (with the shared 75-object limit)."""

from __future__ import annotations

import pytest
import requests

from braze_assets.braze.client import DELIVERED, REJECTED, BrazeClient, BrazeError
from braze_assets.sandbox import DEFAULT_API_KEY

pytestmark = pytest.mark.integration


@pytest.fixture
def client(sandbox):
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=2) as braze:
        yield braze


def order(external_id, order_id, total=19.5):
    return {
        "external_id": external_id,
        "name": "ecommerce.order_placed",
        "time": "2026-11-01T10:00:00Z",
        "properties": {
            "order_id": order_id,
            "total_value": total,
            "currency": "USD",
            "source": "warehouse",
            "products": [
                {
                    "product_id": "sku1",
                    "product_name": "Shirt",
                    "variant_id": "sku1-m",
                    "quantity": 1,
                    "price": total,
                }
            ],
        },
    }


def test_merge_keeps_survivor_fields_where_it_has_none(sandbox, client):
    client.track_attributes(
        [
            {"external_id": "old", "tier": "gold", "in_vip": True, "first_name": "Ann"},
            {"external_id": "kept", "tier": "silver"},
        ]
    )
    client.track_attributes([order("old", "o1")], array="events")
    assert client.merge_users([({"external_id": "old"}, {"external_id": "kept"})]) == 1
    assert sandbox.profile("old") is None
    kept = sandbox.profile("kept")
    assert kept["custom_attributes"] == {"tier": "silver", "in_vip": True}
    assert kept["first_name"] == "Ann"
    assert kept["custom_events"]["ecommerce.order_placed"]["count"] == 1


def test_merge_and_identify_refuse_bad_bodies_with_braze_messages(sandbox, client):
    with pytest.raises(BrazeError, match="exactly one of external_id"):
        client.merge_users([({"external_id": "a", "email": "x@y.z"}, {"external_id": "b"})])
    answer = requests.post(
        sandbox.url + "/users/merge",
        json={
            "merge_updates": [
                {
                    "identifier_to_merge": {"external_id": f"a{i}"},
                    "identifier_to_keep": {"external_id": "b"},
                }
                for i in range(51)
            ]
        },
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
    )
    assert answer.status_code == 400 and answer.json()["message"] == "Max Input Length Exceeded"


def test_alias_profile_identified_later_and_deleted(sandbox, client):
    assert client.new_aliases([{"alias_name": "c-1", "alias_label": "customer_id"}]) == 1
    result = client.track_attributes(
        [{"user_alias": {"alias_name": "c-1", "alias_label": "customer_id"}, "tier": "gold"}]
    )
    assert result.delivered == 1
    assert client.identify_users([("ext-1", "c-1", "customer_id")]) == 1
    assert sandbox.profile("ext-1")["custom_attributes"] == {"tier": "gold"}
    assert client.delete_aliases([("c-1", "customer_id")]) == 1
    assert sandbox.profile("ext-1") is None
    assert client.delete_users(["ext-1"]) == 0


def test_events_and_purchases_validated_and_share_the_object_limit(sandbox, client):
    bad = order("u1", "o2")
    del bad["properties"]["currency"]
    result = client.track_attributes([order("u1", "o1"), bad], array="events")
    assert [o.status for o in result.outcomes] == [DELIVERED, REJECTED]
    assert "missing required property 'currency'" in result.outcomes[1].reason
    purchase = {
        "external_id": "u1",
        "product_id": "sku1",
        "currency": "USD",
        "price": 3.5,
        "quantity": 2,
        "time": "2026-11-01T10:00:00Z",
    }
    assert client.track_attributes([purchase], array="purchases").delivered == 1
    assert [e["array"] for e in sandbox.events()] == ["events", "purchases"]
    # 40 attributes + 36 events = 76 objects: over Braze's shared limit of 75 per request.
    body = {
        "attributes": [{"external_id": f"u{i}", "a": 1} for i in range(40)],
        "events": [order(f"u{i}", f"x{i}") for i in range(36)],
    }
    answer = requests.post(
        sandbox.url + "/users/track",
        json=body,
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
    )
    assert answer.status_code == 400 and answer.json()["message"] == "Max Input Length Exceeded"
    # 75 events in one call go out as one request.
    before = len(sandbox.request_log())
    assert (
        client.track_attributes([order("u1", f"y{i}") for i in range(76)], array="events").delivered
        == 76
    )
    assert len(sandbox.request_log()) - before == 2


def test_event_first_and_last_are_the_earliest_and_latest_times_whatever_the_arrival(
    sandbox, client
):
    # The sync sends a profile's events in parallel requests, so they arrive in any order; two
    # identical demos once showed the same events with first and last swapped.
    late = {**order("p", "o2"), "time": "2026-11-27T18:15:09Z"}
    early = {**order("p", "o1"), "time": "2026-11-12T19:40:46+01:00"}
    client.track_attributes([late], array="events")
    client.track_attributes([early], array="events")
    counts = sandbox.profile("p")["custom_events"]["ecommerce.order_placed"]
    assert counts == {"count": 2, "first": early["time"], "last": late["time"]}
    # A merge keeps the earliest and latest of both profiles (an instant, whatever its zone).
    middle = {**order("q", "o3"), "time": "2026-11-20T00:00:00Z"}
    newest = {**order("q", "o4"), "time": "2026-11-28T00:00:00-05:00"}
    client.track_attributes([newest, middle], array="events")
    assert client.merge_users([({"external_id": "q"}, {"external_id": "p"})]) == 1
    counts = sandbox.profile("p")["custom_events"]["ecommerce.order_placed"]
    assert counts == {"count": 4, "first": early["time"], "last": newest["time"]}
