"""Identity merges and removals reach Braze: /users/merge (or leave-and-clear) and /users/delete,
over HTTP against the sandbox, driven by a real identity registry."""

from __future__ import annotations

import datetime as dt

import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.lifecycle.config import DeletionConfig
from braze_assets.sandbox import DEFAULT_API_KEY, FaultConfig
from braze_assets_tests.lifecycle.helpers import (
    identity_run,
    lifecycle,
    put_attributes,
    put_members,
    snapshot_and_sync,
)

pytestmark = pytest.mark.integration
T1, T2, T3 = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 3)
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def client(sandbox):
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=2) as braze:
        yield braze


def two_customers_in_braze(con, client, sandbox, tmp_path):
    """Customer a (older) and b, both with Braze profiles; only b is in the vip audience."""
    identity_run(con, ["s:a"], [], "r1", T1)
    ids = identity_run(con, ["s:a", "s:b"], [], "r2", T2)
    a, b = ids["s:a"], ids["s:b"]
    sandbox.seed_users([a, b])
    put_attributes(con, {a: ("gold", 10, 0.1), b: ("silver", 20, 0.5)})
    put_members(con, [(b, "boolean", "in_vip", None), (b, "array", "audiences", "vip")])
    lifecycle(con, client)
    first = snapshot_and_sync(con, client, tmp_path, DAY1)
    assert first.objects_delivered == 2
    assert sandbox.profile(b)["custom_attributes"]["in_vip"] is True
    return a, b


def merge_in_identity(con):
    ids = identity_run(con, ["s:a", "s:b"], [("s:a", "s:b")], "r3", T3)
    assert ids["s:a"] == ids["s:b"]
    return ids["s:a"]


def test_identity_merge_leaves_one_profile_with_the_right_attributes(
    con, client, sandbox, tmp_path
):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    survivor = merge_in_identity(con)
    assert survivor == a  # identity keeps the older id
    # The merged customer: new tier, and no longer in the vip audience.
    put_attributes(con, {a: ("platinum", 30, 0.2)})
    put_members(con, [])

    planned = lifecycle(con, client, dry_run=True)
    assert [(m["merge_identifier"], m["keep_identifier"]) for m in planned.merges_planned] == [
        (b, a)
    ]
    assert sandbox.profile(b) is not None  # a dry run changes nothing

    report = lifecycle(con, client, run="lc2")
    assert report.merged == 1 and report.merges_failed == 0
    snapshot_and_sync(con, client, tmp_path, DAY2)

    assert sandbox.profile(b) is None
    assert [p.get("external_id") for p in sandbox.profiles()] == [a]
    attributes = sandbox.profile(a)["custom_attributes"]
    assert attributes["loyalty_tier"] == "platinum"
    assert attributes["lifetime_value"] == 30 and attributes["churn_score"] == 0.2
    # Braze gave a the vip membership of b (a had none); the sync took it away again.
    assert attributes.get("in_vip") is False and "vip" not in attributes.get("audiences", [])
    rows = con.execute(
        "SELECT merge_identifier, keep_identifier, mode, status, attributes_moved FROM braze_profile_merges"
    ).fetchall()
    assert rows == [(b, a, "merge", "merged", 2)]
    # Nothing left to merge on the next run, and the retired id is out of confirmed state.
    assert lifecycle(con, client, run="lc3").merges_planned == []
    assert not con.execute(
        "SELECT count(*) FROM braze_confirmed_state WHERE identifier = ?", [b]
    ).fetchone()[0]


def test_survivor_taking_the_retired_external_id_keeps_that_profile(con, client, sandbox, tmp_path):
    # After the merge, the coalesced external id of a is b's (b's record was more recent).
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    merge_in_identity(con)
    put_attributes(con, {a: ("platinum", 30, 0.2)}, identifiers={a: b})
    put_members(con, [])
    report = lifecycle(con, client, run="lc2")
    assert [(m["merge_identifier"], m["keep_identifier"]) for m in report.merges_planned] == [
        (a, b)
    ]
    snapshot_and_sync(con, client, tmp_path, DAY2)
    assert [p["external_id"] for p in sandbox.profiles()] == [b]
    attributes = sandbox.profile(b)["custom_attributes"]
    assert attributes["loyalty_tier"] == "platinum" and attributes["lifetime_value"] == 30
    assert attributes["in_vip"] is False and "vip" not in attributes["audiences"]


def test_leave_and_clear_empties_the_retired_profile(con, client, sandbox, tmp_path):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    merge_in_identity(con)
    put_attributes(con, {a: ("platinum", 30, 0.2)})
    put_members(con, [])
    report = lifecycle(con, client, mode="leave_and_clear", run="lc2")
    assert report.left_and_cleared == 1
    snapshot_and_sync(con, client, tmp_path, DAY2)
    retired = sandbox.profile(b)["custom_attributes"]
    assert retired == {"in_vip": False, "audiences": []}
    assert sandbox.profile(a)["custom_attributes"]["loyalty_tier"] == "platinum"
    assert con.execute("SELECT status FROM braze_profile_merges").fetchall() == [
        ("left_and_cleared",)
    ]


def test_customer_gone_from_every_source_is_deleted_after_the_grace_period(
    con, client, sandbox, tmp_path
):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    identity_run(con, ["s:a"], [], "r3", T3)  # b's only record is gone
    put_attributes(con, {a: ("gold", 10, 0.1)})
    put_members(con, [])
    config = DeletionConfig(enabled=True, grace_days=2)
    early = lifecycle(con, client, deletions=config, now=T3 + dt.timedelta(days=1))
    assert early.deletions_planned == [] and sandbox.profile(b) is not None

    later = T3 + dt.timedelta(days=3)
    planned = lifecycle(con, client, deletions=config, dry_run=True, now=later)
    assert planned.deletions_planned == [
        {"customer_id": b, "identifier": b, "reason": "gone_from_sources"}
    ]
    assert sandbox.profile(b) is not None
    report = lifecycle(con, client, deletions=config, now=later, run="lc3")
    assert report.deleted == 1
    assert sandbox.profile(b) is None and sandbox.profile(a) is not None
    for table in ("braze_confirmed_state", "attribute_snapshots", "braze_profile_keys"):
        assert not con.execute(
            f"SELECT count(*) FROM {table} WHERE identifier = ?", [b]
        ).fetchone()[0]
    # The next sync neither recreates nor touches the deleted profile.
    snapshot_and_sync(con, client, tmp_path, DAY2)
    assert sandbox.profile(b) is None


def test_privacy_request_deletes_at_once_within_the_budget_and_is_never_resent(
    con, client, sandbox, tmp_path
):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    con.execute("CREATE TABLE privacy_requests AS SELECT ? AS customer_id", [b])
    config = DeletionConfig(enabled=True, source_table="privacy_requests", max_per_run=0)
    first = lifecycle(con, client, deletions=config)
    assert first.deleted == 0 and first.deletions_deferred == 1
    config = config.model_copy(update={"max_per_run": 1})
    second = lifecycle(con, client, deletions=config, run="lc2")
    assert second.deleted == 1 and second.deletions_deferred == 0
    assert [p["external_id"] for p in sandbox.profiles()] == [a]
    # b is still in the sources (with a new tier), but its profile is never sent again.
    put_attributes(con, {a: ("gold", 10, 0.1), b: ("bronze", 20, 0.5)})
    snapshot_and_sync(con, client, tmp_path, DAY2, update_existing_only=False)
    assert [p["external_id"] for p in sandbox.profiles()] == [a]
    reasons = con.execute("SELECT DISTINCT reason, status FROM braze_profile_deletions").fetchall()
    assert reasons == [("privacy_request", "deleted")]


def test_missing_deletion_source_is_named(con, client):
    config = DeletionConfig(enabled=True, source_table="privacy_requests")
    with pytest.raises(ValueError, match="source_table 'privacy_requests' does not exist"):
        lifecycle(con, client, deletions=config)


def test_customer_without_external_id_gets_an_alias_profile_identified_later(
    con, client, sandbox, tmp_path
):
    from braze_assets.lifecycle.config import AliasConfig

    def aliases_run(dry_run=False):
        return lifecycle(con, client, dry_run=dry_run, aliases=AliasConfig(enabled=True))

    con.execute("CREATE TABLE customer_360 AS SELECT * FROM (VALUES ('c1'), ('c2')) t(customer_id)")
    put_attributes(con, {"c1": ("gold", 1, 0.1)}, identifiers={"c1": "ext-1"})
    sandbox.seed_users(["ext-1"])
    assert aliases_run(dry_run=True).aliases_planned == 1 and len(sandbox.profiles()) == 1
    assert aliases_run().aliases_created == 1
    alias_only = [p for p in sandbox.profiles() if "external_id" not in p]
    assert alias_only[0]["user_aliases"] == [{"alias_name": "c2", "alias_label": "customer_id"}]
    assert aliases_run().aliases_created == 0  # once
    # c2 signs up: its alias profile becomes the profile of its new external id.
    put_attributes(
        con,
        {"c1": ("gold", 1, 0.1), "c2": ("silver", 2, 0.2)},
        identifiers={"c1": "ext-1", "c2": "ext-2"},
    )
    assert aliases_run().aliases_identified == 1
    assert sandbox.profile("ext-2")["user_aliases"][0]["alias_name"] == "c2"
    assert len(sandbox.profiles()) == 2
    assert con.execute("SELECT status, external_id FROM braze_profile_aliases").fetchall() == [
        ("identified", "ext-2")
    ]


def test_merge_is_read_back_until_braze_has_done_it(con, client, sandbox, tmp_path):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    merge_in_identity(con)
    put_attributes(con, {a: ("platinum", 30, 0.2)})
    # Braze merges asynchronously: the first read-back still sees both profiles.
    sandbox.set_faults(FaultConfig(defer_merges=True))
    report = lifecycle(con, client, run="lc2")
    assert (report.merged, report.merges_pending, report.merges_failed) == (0, 1, 0)
    status = "SELECT status FROM braze_profile_merges WHERE merge_identifier = ?"
    assert con.execute(status, [b]).fetchall() == [("requested",)]
    assert sandbox.profile(b) is not None
    # Still not done by the next run: asked again, still pending, never planned twice.
    again = lifecycle(con, client, run="lc3")
    assert (again.merged, again.merges_pending, again.merges_planned) == (0, 1, [])
    sandbox.apply_merges()
    done = lifecycle(con, client, run="lc4")
    assert (done.merged, done.merges_pending) == (1, 0)
    assert con.execute(status, [b]).fetchall() == [("merged",)]
    assert sandbox.profile(b) is None and sandbox.profile(a) is not None


def test_merge_into_a_profile_braze_lacks_is_recorded_failed(con, client, sandbox, tmp_path):
    a, b = two_customers_in_braze(con, client, sandbox, tmp_path)
    merge_in_identity(con)
    put_attributes(con, {a: ("platinum", 30, 0.2)})
    client.delete_users([a])  # someone deleted the survivor's profile in Braze
    report = lifecycle(con, client, run="lc2")
    assert (report.merged, report.merges_failed) == (0, 1)
    row = con.execute("SELECT status, message FROM braze_profile_merges").fetchone()
    assert row[0] == "failed" and "is not in Braze after the merge" in row[1]
    # Confirmed state no longer claims values for the missing profile: the next sync sends them.
    confirmed = "SELECT count(*) FROM braze_confirmed_state WHERE identifier = ?"
    assert con.execute(confirmed, [a]).fetchone()[0] == 0
