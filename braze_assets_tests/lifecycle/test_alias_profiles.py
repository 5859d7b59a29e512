"""A customer without an external id gets attributes and orders on its alias profile
(`user_alias` in /users/track); once it has an external id it is identified and from then on
keyed by it, without resending what Braze already has. Over HTTP against the sandbox."""

from __future__ import annotations

import datetime as dt

import pytest

from braze_assets.attributes.fields import alias_key
from braze_assets.braze.client import BrazeClient
from braze_assets.lifecycle.config import AliasConfig
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets_tests.lifecycle.helpers import (
    identity_run,
    lifecycle,
    put_attributes,
    snapshot_and_sync,
)
from braze_assets_tests.lifecycle.test_orders import NOW, order_ids, put_orders, send

pytestmark = pytest.mark.integration
DAY1, DAY2 = dt.date(2026, 11, 5), dt.date(2026, 11, 6)


def aliased(con, client, run: str):
    return lifecycle(con, client, run=run, aliases=AliasConfig(enabled=True))


def alias_only_b(con, run: str, now) -> tuple[str, str]:
    """Customers a (external id ext-a, in Braze) and b (no external id: keyed by its alias, as the
    builder does with aliases on), from identity run `run`; customer_360 lists both."""
    ids = identity_run(con, ["s:a", "s:b"], [], run, now)
    a, b = ids["s:a"], ids["s:b"]
    con.execute("CREATE TABLE customer_360 AS SELECT unnest(?::VARCHAR[]) AS customer_id", [[a, b]])
    put_attributes(
        con,
        {a: ("gold", 1, 0.1), b: ("silver", 2, 0.2)},
        identifiers={a: "ext-a", b: alias_key("customer_id", b)},
    )
    return a, b


def alias_profile(sandbox, name: str) -> dict:
    (profile,) = [
        p
        for p in sandbox.profiles()
        if {"alias_name": name, "alias_label": "customer_id"} in p.get("user_aliases", [])
    ]
    return profile


def test_alias_only_customer_gets_attributes_and_orders_then_is_identified(con, sandbox, tmp_path):
    a, b = alias_only_b(con, "r1", NOW)
    values = {a: ("gold", 1, 0.1), b: ("silver", 2, 0.2)}
    sandbox.seed_users(["ext-a"])
    put_orders(con, 2, ["a", "b"])  # o0000 (refunded) for a, o0001 for b
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        assert aliased(con, client, "lc1").aliases_created == 1
        first = snapshot_and_sync(con, client, tmp_path, DAY1)
        assert (first.objects_delivered, first.objects_rejected) == (2, 0)
        orders = send(con, client, run="o1")
        assert (orders.confirmed, orders.unknown_users, orders.rejected) == (3, 0, 0)
        profile = alias_profile(sandbox, b)
        assert "external_id" not in profile
        assert profile["custom_attributes"]["loyalty_tier"] == "silver"
        assert profile["custom_events"]["ecommerce.order_placed"]["count"] == 1

        # b signs up: identified, then keyed by its external id without resending anything.
        put_attributes(con, values, identifiers={a: "ext-a", b: "ext-b"})
        report = aliased(con, client, "lc2")
        assert report.aliases_identified == 1 and report.merges_planned == []
        before = sandbox.received_by_user()
        second = snapshot_and_sync(con, client, tmp_path, DAY2)
        assert second.diff.objects == 0 and sandbox.received_by_user() == before
        assert send(con, client, run="o2").planned == 0
        identified = sandbox.profile("ext-b")
        assert identified["custom_attributes"]["loyalty_tier"] == "silver"
        assert identified["custom_events"]["ecommerce.order_placed"]["count"] == 1
        # From now on changes go to the external id.
        put_attributes(
            con, {**values, b: ("platinum", 2, 0.2)}, identifiers={a: "ext-a", b: "ext-b"}
        )
        third = snapshot_and_sync(con, client, tmp_path, DAY2 + dt.timedelta(days=1))
        assert third.objects_delivered == 1
        assert sandbox.profile("ext-b")["custom_attributes"]["loyalty_tier"] == "platinum"
    assert set(order_ids(sandbox).values()) == {1}
    assert len(sandbox.profiles()) == 2


def test_builder_keys_customers_without_external_id_by_alias_when_aliases_are_on(tmp_path):
    from braze_assets.attributes.builder import build_braze_customer_attributes
    from braze_assets_tests.attributes.test_builder import TODAY, braze_destination, warehouse

    con = warehouse(tmp_path / "w.duckdb")
    query = "SELECT identifier FROM braze_customer_attributes WHERE customer_id = 'c3'"
    report = build_braze_customer_attributes(con, [braze_destination()], today=TODAY)
    assert con.execute(query).fetchall() == [] and report.without_identifier["braze"] == 1
    report = build_braze_customer_attributes(
        con, [braze_destination()], today=TODAY, alias_label="customer_id"
    )
    assert con.execute(query).fetchall() == [("user_alias:customer_id:c3",)]
    assert report.without_identifier["braze"] == 0


def test_in_flight_orders_of_an_alias_profile_are_read_back(con, sandbox, tmp_path):
    import duckdb

    from braze_assets.sandbox import FaultConfig
    from braze_assets_tests.lifecycle.test_orders import kill_child_when

    _, b = alias_only_b(con, "r1", NOW)
    sandbox.seed_users(["ext-a"])
    put_orders(con, 5, ["b"])  # 6 events, all for the alias-only customer
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        assert aliased(con, client, "lc1").aliases_created == 1
    con.close()
    warehouse = str(tmp_path / "warehouse.duckdb")
    # Braze keeps the events, the answer never comes back: the run is killed while it waits.
    sandbox.set_faults(FaultConfig(latency_ms=3000))
    kill_child_when(sandbox, warehouse, sandbox.events)
    sandbox.set_faults(FaultConfig())
    with duckdb.connect(warehouse) as again, BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        rerun = send(again, client, run="rerun")
        assert (rerun.read_back_confirmed, rerun.read_back_resent, rerun.uncertain) == (6, 0, 0)
    assert len(order_ids(sandbox)) == 6 and set(order_ids(sandbox).values()) == {1}


def test_merge_of_an_alias_profile_is_read_back(con, sandbox, tmp_path):
    from braze_assets.sandbox import FaultConfig
    from braze_assets_tests.lifecycle.test_merges_deletions import T1, T2, T3

    identity_run(con, ["s:a"], [], "r1", T1)
    a, b = alias_only_b(con, "r2", T2)
    sandbox.seed_users(["ext-a"])
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        aliased(con, client, "lc1")
        assert snapshot_and_sync(con, client, tmp_path, DAY1).objects_delivered == 2
        # Identity finds b is a: the alias profile merges into ext-a, asynchronously at Braze.
        identity_run(con, ["s:a", "s:b"], [("s:a", "s:b")], "r3", T3)
        put_attributes(con, {a: ("gold", 1, 0.1)}, identifiers={a: "ext-a"})
        sandbox.set_faults(FaultConfig(defer_merges=True))
        first = aliased(con, client, "lc2")
        assert (first.merged, first.merges_pending) == (0, 1)
        sandbox.apply_merges()
        done = aliased(con, client, "lc3")
        assert (done.merged, done.merges_pending) == (1, 0)
    assert con.execute("SELECT merge_identifier, status FROM braze_profile_merges").fetchall() == [
        (alias_key("customer_id", b), "merged")
    ]
    assert len(sandbox.profiles()) == 1
    assert sandbox.profile("ext-a")["custom_attributes"]["loyalty_tier"] == "gold"
