"""Attributes and order events share /users/track requests (75 objects per request across the
arrays), and the events' data points count in the sync's forecast and budget. Over HTTP against
the sandbox."""

from __future__ import annotations

import datetime as dt

import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.lifecycle.orders import order_riders, prepare_order_events
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.runner import SyncBlocked, sync_destination
from braze_assets.sync.snapshots import build_snapshot
from braze_assets_tests.lifecycle.test_orders import CONFIG, NOW, ORDERS_TO, order_ids, setup
from braze_assets_tests.sync.conftest import destination_config

pytestmark = pytest.mark.integration
DAY1, DAY2 = dt.date(2026, 11, 5), dt.date(2026, 11, 6)


def packed_sync(con, client, tmp_path, day, run: str, budget=None):
    destination = destination_config()
    build_snapshot(con, [destination], day)
    orders, plan = prepare_order_events(con, client, **ORDERS_TO, config=CONFIG, now=NOW)
    riders = order_riders(orders, plan, con, run, CONFIG) if len(plan) else None
    report = sync_destination(
        con,
        client,
        destination="braze_us",
        identifier_type="external_id",
        clear_attributes=["loyalty_tier"],
        settings=ResolvedSyncSettings(destination="braze_us", data_point_budget=budget),
        journal_root=tmp_path / "journal",
        snapshot_date=day,
        run_id=run,
        riders=riders,
    )
    return report, orders


def track_requests(sandbox, since=0):
    return [r for r in sandbox.request_log(since) if r["path"] == "/users/track"]


def test_attributes_and_orders_are_packed_within_75_objects(con, sandbox, tmp_path):
    setup(con, sandbox, 100)  # 2 profiles (6 values), 101 order events
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=1) as client:
        # Over budget counting the events (6 + 101 > 106): nothing is sent, nothing logged.
        with pytest.raises(SyncBlocked, match="107 data points .*101 for 101 events"):
            packed_sync(con, client, tmp_path, DAY1, "r0", budget=106)
        assert track_requests(sandbox) == []
        assert con.execute("SELECT count(*) FROM braze_event_log").fetchone()[0] == 0

        report, orders = packed_sync(con, client, tmp_path, DAY1, "r1", budget=107)
        assert report.objects_delivered == 2 and orders.confirmed == 101
        sizes = [r["objects"] for r in track_requests(sandbox)]
        # 2 attribute objects + 101 events = 103 objects: two requests, not 1 + 2.
        assert sizes == [75, 28]
        assert con.execute("SELECT DISTINCT status FROM braze_event_log").fetchall() == [
            ("confirmed",)
        ]

        # No attribute change, no new order: nothing to send; events are never resent.
        seen = len(sandbox.request_log())
        again, orders = packed_sync(con, client, tmp_path, DAY2, "r2")
        assert again.diff.objects == 0 and orders.planned == 0
        assert track_requests(sandbox, seen) == []
    assert len(order_ids(sandbox)) == 101 and set(order_ids(sandbox).values()) == {1}


def test_orders_ride_alone_when_no_attribute_changed(con, sandbox, tmp_path):
    setup(con, sandbox, 3)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=1) as client:
        destination = destination_config()
        build_snapshot(con, [destination], DAY1)
        sync_destination(
            con,
            client,
            destination="braze_us",
            identifier_type="external_id",
            clear_attributes=[],
            settings=ResolvedSyncSettings(destination="braze_us"),
            journal_root=tmp_path / "journal",
            snapshot_date=DAY1,
        )
        seen = len(sandbox.request_log())
        report, orders = packed_sync(con, client, tmp_path, DAY1, "r1")
        assert report.diff.objects == 0 and orders.confirmed == 4
        assert [r["objects"] for r in track_requests(sandbox, seen)] == [4]
