"""Subscription groups in the sandbox over HTTP, validated like Braze: `subscription_groups` in
/users/track attribute objects and /v2/subscription/status/set; export shows them; not billed."""

from __future__ import annotations

import pytest
import requests

from braze_assets.braze.client import DELIVERED, REJECTED, BrazeClient, BrazeError
from braze_assets.sandbox import DEFAULT_API_KEY

pytestmark = pytest.mark.integration
GROUP = "3c8a1f5e-5b7b-4b8e-9d0a-1f2e3d4c5b6a"


@pytest.fixture
def client(sandbox):
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=1) as braze:
        yield braze


def state(group: str, value: str) -> dict:
    return {"subscription_group_id": group, "subscription_state": value}


def test_track_sets_subscription_groups_and_rejects_bad_states(sandbox, client):
    sandbox.seed_users(["a", "b", "c"])
    result = client.track_attributes(
        [
            {"external_id": "a", "subscription_groups": [state(GROUP, "subscribed")]},
            {"external_id": "b", "subscription_groups": [state(GROUP, "opted_in")]},
            {"external_id": "c", "subscription_groups": {"id": GROUP}},
        ]
    )
    assert [o.status for o in result.outcomes] == [DELIVERED, REJECTED, REJECTED]
    assert "use subscribed or unsubscribed" in result.outcomes[1].reason
    assert "must be an array" in result.outcomes[2].reason
    assert sandbox.profile("a")["subscription_groups"] == {GROUP: "subscribed"}
    assert "subscription_groups" not in sandbox.profile("b")
    assert sandbox.data_points_spent() == 0  # subscription groups are not billable
    exported = client.export_ids(["a"], ["subscription_groups"])[0]
    assert exported["subscription_groups"] == [{"id": GROUP, "status": "Subscribed"}]


def test_v2_subscription_status_set(sandbox, client):
    sandbox.seed_users(["a", "b"])
    assert client.set_subscription_states(GROUP, "unsubscribed", ["a", "b", "ghost"]) == 3
    assert sandbox.profile("a")["subscription_groups"] == {GROUP: "unsubscribed"}
    assert sandbox.profile("ghost") is None  # unknown users are not created
    with pytest.raises(BrazeError, match="use subscribed or unsubscribed"):
        client.set_subscription_states(GROUP, "opted_in", ["a"])
    answer = requests.post(
        f"{sandbox.url}/v2/subscription/status/set",
        json={"subscription_groups": [state(GROUP, "subscribed")]},
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 400 and "names no users" in answer.json()["message"]
