"""Orders reach Braze as eCommerce recommended events, each exactly once across reruns and a
killed run, over HTTP against the sandbox (which validates Braze's order schema)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.config.sources import TransactionSourceConfig
from braze_assets.lifecycle.config import OrderEventsConfig
from braze_assets.lifecycle.orders import send_order_events
from braze_assets.sandbox import DEFAULT_API_KEY, FaultConfig
from braze_assets_tests.lifecycle.helpers import identity_run, put_attributes

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 5, 12, 0)
TXN = TransactionSourceConfig(
    name="web",
    path="orders.csv",
    primary_key="order_id",
    source="s",
    customer_key="customer_key",
    ordered_at="ordered_at",
    revenue="revenue",
    items="items",
    channel_value="online",
)
CONFIG = OrderEventsConfig(enabled=True, status_column="status", lookback_days=30)


# Whose orders go where: what send_order_events and prepare_order_events are both given.
ORDERS_TO = {"destination": "braze_us", "identifier_type": "external_id", "transactions": [TXN]}


def send(con, client, *, run="r", config=CONFIG, now=NOW, **kwargs):
    return send_order_events(con, client, **ORDERS_TO, config=config, run_id=run, now=now, **kwargs)


def put_orders(con, n: int, customers: list[str]) -> None:
    """n orders spread over the customers' source records, one refunded, one too old."""
    con.execute(
        "CREATE OR REPLACE TABLE raw_txn_web (order_id VARCHAR, customer_key VARCHAR, ordered_at VARCHAR, "
        "revenue VARCHAR, items VARCHAR, status VARCHAR, _row_number BIGINT)"
    )
    rows = [
        (
            f"o{i:04d}",
            customers[i % len(customers)],
            f"2026-11-0{1 + i % 4}T10:00:00",
            f"{10 + i}.50",
            "2",
            "refunded" if i == 0 else "placed",
            i + 2,
        )
        for i in range(n)
    ]
    rows.append(("old", customers[0], "2026-01-01T10:00:00", "5.00", "1", "placed", n + 2))
    con.executemany("INSERT INTO raw_txn_web VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def setup(con, sandbox, n: int) -> dict:
    ids = identity_run(con, ["s:a", "s:b"], [], "r1", NOW)
    put_attributes(con, {ids["s:a"]: ("gold", 1, 0.1), ids["s:b"]: ("silver", 2, 0.2)})
    sandbox.seed_users(ids.values())
    put_orders(con, n, ["a", "b"])
    return ids


def order_ids(sandbox) -> Counter:
    return Counter(
        (e["name"], e["properties"]["order_id"]) for e in sandbox.events() if e["array"] == "events"
    )


def test_orders_are_ecommerce_events_sent_once_across_reruns(con, sandbox):
    ids = setup(con, sandbox, 5)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=2) as client:
        preview = send(con, client, dry_run=True)
        assert preview.planned == 6 and preview.forecast_data_points == 6 and not sandbox.events()
        blocked = send(con, client, data_point_budget=5)
        assert blocked.blocked and "over the 5 left" in blocked.blocked and not sandbox.events()
        first = send(con, client)
        assert (first.confirmed, first.rejected) == (6, 0)
        again = send(con, client, run="r2")
        assert again.planned == 0 and again.confirmed == 0
    sent = order_ids(sandbox)
    assert set(sent.values()) == {1} and len(sent) == 6
    assert ("ecommerce.order_refunded", "o0000") in sent and (
        "ecommerce.order_placed",
        "old",
    ) not in sent
    event = next(e for e in sandbox.events() if e["properties"]["order_id"] == "o0001")
    assert event["external_id"] == ids["s:b"] and event["time"] == "2026-11-02T10:00:00Z"
    assert event["properties"]["total_value"] == 11.5 and event["properties"]["currency"] == "USD"
    assert event["properties"]["products"][0]["price"] == 11.5
    assert sandbox.data_points()["by_attribute"]["event:ecommerce.order_placed"] == 5
    assert con.execute("SELECT DISTINCT status FROM braze_event_log").fetchall() == [("confirmed",)]


def test_legacy_purchase_object_on_request(con, sandbox):
    setup(con, sandbox, 3)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        report = send(con, client, config=CONFIG.model_copy(update={"format": "purchase"}))
    assert report.confirmed == 3
    purchases = [e for e in sandbox.events() if e["array"] == "purchases"]
    assert sorted(p["properties"]["order_id"] for p in purchases) == ["o0000", "o0001", "o0002"]


def test_order_sent_once_across_a_killed_run(con, sandbox, tmp_path):
    setup(con, sandbox, 200)  # 201 events: 3 requests of at most 75
    con.close()
    warehouse = str(tmp_path / "warehouse.duckdb")
    # Each answer takes 3 s after Braze has the events: the kill lands while one is awaited.
    sandbox.set_faults(FaultConfig(latency_ms=3000))
    kill_child_when(sandbox, warehouse, sandbox.events)
    sandbox.set_faults(FaultConfig())
    assert len(order_ids(sandbox)) == 75  # one request reached Braze; its answer never came back
    with duckdb.connect(warehouse) as again, BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        rerun = send(again, client, run="rerun")
        # Braze has the 75 whose answer was lost: the read-back confirms them, none is resent.
        assert (rerun.read_back_confirmed, rerun.read_back_resent, rerun.uncertain) == (75, 0, 0)
        assert rerun.confirmed == 201 - 75
        assert send(again, client, run="third").planned == 0
    sent = order_ids(sandbox)
    assert len(sent) == 201 and set(sent.values()) == {1}


def kill_child_when(sandbox, warehouse: str, seen) -> None:
    """Run orders_child and SIGKILL it as soon as `seen()` is true."""
    child = subprocess.Popen(
        [sys.executable, "-m", "braze_assets_tests.lifecycle.orders_child", warehouse, sandbox.url],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        while not seen():
            assert child.poll() is None, "the child ended before sending"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()


def test_events_a_killed_run_never_delivered_are_resent_exactly_once(con, sandbox, tmp_path):
    setup(con, sandbox, 5)  # 6 events, one request
    con.close()
    warehouse = str(tmp_path / "warehouse.duckdb")
    # The request is held 3 s and then dropped unanswered, Braze keeping nothing: the kill lands
    # while the run waits, leaving its events in flight although they never arrived.
    sandbox.set_faults(FaultConfig(drop_share=1.0, latency_ms=3000))
    kill_child_when(
        sandbox, warehouse, lambda: any(r["status"] == "dropped" for r in sandbox.request_log())
    )
    sandbox.set_faults(FaultConfig())
    assert not sandbox.events()
    with duckdb.connect(warehouse) as again, BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        assert (
            again.execute(
                "SELECT count(*) FROM braze_event_log WHERE status = 'in_flight'"
            ).fetchone()[0]
            == 6
        )
        rerun = send(again, client, run="rerun")
        assert (rerun.read_back_resent, rerun.read_back_confirmed, rerun.confirmed) == (6, 0, 6)
        third = send(again, client, run="third")
        assert third.planned == 0 and third.read_back_resent == 0
    sent = order_ids(sandbox)
    assert len(sent) == 6 and set(sent.values()) == {1}


def test_order_of_a_profile_braze_lacks_waits_until_it_exists(con, sandbox):
    ids = identity_run(con, ["s:a", "s:b"], [], "r1", NOW)
    put_attributes(con, {ids["s:a"]: ("gold", 1, 0.1), ids["s:b"]: ("silver", 2, 0.2)})
    sandbox.seed_users([ids["s:a"]])
    put_orders(con, 2, ["a", "b"])  # o0000 (refunded) for a, o0001 for b
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        first = send(con, client)
        assert (first.confirmed, first.unknown_users, first.rejected) == (2, 1, 0)
        assert sandbox.profile(ids["s:b"]) is None  # an order never creates a profile
        sandbox.seed_users([ids["s:b"]])
        # Retried on the unknown-user back-off (daily by default), not on every run.
        assert send(con, client, run="same-day").planned == 0
        rejected_at(con, NOW - dt.timedelta(days=1, minutes=1))
        later = send(con, client, run="r2")
        assert (later.planned, later.retried_unknown, later.confirmed) == (1, 1, 1)
        assert later.metadata()["order_events_retried_unknown"] == 1
    assert order_ids(sandbox)[("ecommerce.order_placed", "o0001")] == 1


def rejected_at(con, at: dt.datetime, first: dt.datetime | None = None) -> None:
    """Move the unknown-user rejections of the event log back in time (days between runs)."""
    con.execute(
        "UPDATE braze_event_log SET sent_at = ?, first_rejected_at = ? WHERE status = 'unknown_user'",
        [at, first or at],
    )


def test_unknown_user_orders_stop_after_the_retry_window(con, sandbox):
    ids = identity_run(con, ["s:a", "s:b"], [], "r1", NOW)
    put_attributes(con, {ids["s:a"]: ("gold", 1, 0.1), ids["s:b"]: ("silver", 2, 0.2)})
    put_orders(con, 2, ["a", "b"])
    with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
        first = send(con, client)  # Braze knows neither profile
        assert (first.unknown_users, first.confirmed) == (3, 0)
        # Tried every 2 days (configured) for 30 days from the first rejection.
        rejected_at(con, NOW - dt.timedelta(days=1, hours=1))
        assert send(con, client, run="r2", retry_unknown_every_days=2).planned == 0
        retried = send(
            con, client, run="r3", retry_unknown_every_days=2.0, now=NOW + dt.timedelta(days=1)
        )
        assert (retried.retried_unknown, retried.unknown_users) == (3, 3)
        first_seen = con.execute(
            "SELECT DISTINCT first_rejected_at FROM braze_event_log"
        ).fetchall()
        assert first_seen == [(NOW - dt.timedelta(days=1, hours=1),)]  # kept across retries
        rejected_at(con, NOW - dt.timedelta(days=3), first=NOW - dt.timedelta(days=31))
        assert send(con, client, run="r4").planned == 0
