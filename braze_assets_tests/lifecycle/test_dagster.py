"""Through Dagster: the sync asset merges identity's merges in Braze and sends orders, and the
profile_lifecycle_plan check lists what the next run would do without sending anything."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets import settings
from braze_assets.defs.braze.resources import BrazeResource
from braze_assets.defs.snapshots.assets import build_snapshot_asset
from braze_assets.defs.snapshots.partitions import daily_partitions
from braze_assets.defs.sync.assets import build_sync_asset
from braze_assets.defs.sync.lifecycle_checks import build_lifecycle_check
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.config import SyncConfig
from braze_assets_tests.lifecycle.helpers import identity_run, put_attributes, put_members
from braze_assets_tests.lifecycle.test_orders import TXN, put_orders
from braze_assets_tests.sync.conftest import destination_config

pytestmark = pytest.mark.integration
T1, T2, T3 = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 3)


def sync_assets(config: SyncConfig, transactions=(), consent_source=None) -> list:
    """The snapshot and sync assets of the test destination."""
    destination = destination_config()
    partitions = daily_partitions(config)
    return [
        build_snapshot_asset([destination], config, partitions),
        build_sync_asset(destination, config, partitions, transactions, consent_source),
    ]


def resources(warehouse, sandbox) -> dict:
    return {
        "duckdb": DuckDBResource(database=str(warehouse)),
        "braze": BrazeResource(api_key=DEFAULT_API_KEY, rest_endpoint=sandbox.url),
    }


def sync_day(assets, day: str, resources: dict) -> dict:
    """Materialise the day's partition; the sync asset's metadata."""
    result = dg.materialize(assets, partition_key=day, resources=resources)
    return result.asset_materializations_for_node("braze_sync_results__braze_us")[0].metadata


def test_sync_asset_merges_profiles_and_sends_orders(tmp_path, monkeypatch, sandbox):
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path))
    warehouse = tmp_path / "warehouse.duckdb"
    today = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse)) as con:
        identity_run(con, ["s:a"], [], "r1", T1)
        ids = identity_run(con, ["s:a", "s:b"], [], "r2", T2)
        a, b = ids["s:a"], ids["s:b"]
        put_attributes(con, {a: ("gold", 10, 0.1), b: ("silver", 20, 0.5)})
        put_members(con, [(b, "boolean", "in_vip", None)])
        put_orders(con, 0, ["a"])
        con.execute(
            "INSERT INTO raw_txn_web VALUES ('o1', 'b', ?, '12.00', '1', 'placed', 3)",
            [(today - dt.timedelta(hours=1)).isoformat(timespec="seconds")],
        )
    sandbox.seed_users([a, b])
    config = SyncConfig(lifecycle={"orders": {"enabled": True, "status_column": "status"}})
    assets = sync_assets(config, [TXN])
    check = build_lifecycle_check(destination_config(), config, [TXN])
    on = resources(warehouse, sandbox)
    meta = sync_day(assets, "2026-11-01", on)
    assert meta["order_events_confirmed"].value == 1
    assert [e["properties"]["order_id"] for e in sandbox.events()] == ["o1"]
    # The order rode in the attributes' request: 2 profiles + 1 event in one /users/track.
    tracks = [r for r in sandbox.request_log() if r["path"] == "/users/track"]
    assert [r["objects"] for r in tracks] == [3]

    with duckdb.connect(str(warehouse)) as con:
        identity_run(con, ["s:a", "s:b"], [("s:a", "s:b")], "r3", T3)
        put_attributes(con, {a: ("platinum", 30, 0.2)})
        put_members(con, [])
    # The check alone, as the UI runs it: a dry run before the day's sync.
    evaluation = check(duckdb=on["duckdb"])
    assert evaluation.metadata["merges_planned"].value == 1
    assert b in evaluation.metadata["planned_merges"].value
    assert sandbox.profile(b) is not None

    meta = sync_day(assets, "2026-11-02", on)
    assert meta["profiles_merged"].value == 1 and meta["order_events_confirmed"].value == 0
    assert sandbox.profile(b) is None
    kept = sandbox.profile(a)
    assert kept["custom_attributes"]["loyalty_tier"] == "platinum"
    assert kept["custom_attributes"]["in_vip"] is False
    assert kept["custom_events"]["ecommerce.order_placed"]["count"] == 1


def test_sync_asset_sends_subscription_groups_from_the_authority(tmp_path, monkeypatch, sandbox):
    from braze_assets_tests.lifecycle.test_subscriptions import (
        AUTHORITY,
        NEWS,
        T1,
        authority_rows,
    )

    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path))
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        put_attributes(con, {"c1": ("gold", 1, 0.1), "c2": ("silver", 2, 0.2)})
        authority_rows(con, [("c1", "yes", T1), ("c2", "no", T1)])
    sandbox.seed_users(["c1", "c2"])
    config = SyncConfig(
        lifecycle={
            "consent": {
                "authority": AUTHORITY.name,
                "subscription_groups": [{"group_id": NEWS, "column": "news_opt_in"}],
            }
        }
    )
    meta = sync_day(
        sync_assets(config, consent_source=AUTHORITY), "2026-11-01", resources(warehouse, sandbox)
    )
    assert meta["subscription_groups_sent"].value == 2
    assert sandbox.profile("c1")["subscription_groups"] == {NEWS: "subscribed"}
    assert sandbox.profile("c2")["subscription_groups"] == {NEWS: "unsubscribed"}
