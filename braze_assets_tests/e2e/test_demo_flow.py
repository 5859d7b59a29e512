"""The whole graph, materialised by `braze-assets demo` in a temp data dir over real connections:
a DuckDB file, the Braze sandbox over HTTP, moto's S3 server and a real Dagster instance."""

import re

import duckdb
import pytest

from braze_assets.sandbox import SandboxServer
from braze_assets_tests.conftest import DEMO_PEOPLE, run_cli

CONTRACT_TABLES = (
    "unified_coalesced",
    "customer_360",
    "braze_customer_attributes",
    "attribute_snapshots",
    "braze_sync_results",
    "currents_events",
)


@pytest.fixture(scope="module")
def warehouse(demo_run):
    con = duckdb.connect(str(demo_run.data_dir / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def sandbox_state(demo_run):
    with SandboxServer(demo_run.data_dir / "braze_sandbox") as sandbox:
        yield {
            "profiles": {p["external_id"]: p for p in sandbox.profiles()},
            "points": sandbox.data_points(),
        }


def _count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_every_contract_table_is_filled(warehouse):
    for table in CONTRACT_TABLES:
        assert _count(warehouse, table) > 0, table


def test_identity_unifies_sources_into_fewer_customers(warehouse):
    records = _count(warehouse, "unified_coalesced")
    customers = _count(warehouse, "customer_360")
    assert records > customers > 0
    assert (
        warehouse.execute(
            "SELECT count(*) FROM unified_coalesced WHERE customer_id IS NULL"
        ).fetchone()[0]
        == 0
    )
    # Every customer id in the 360 comes from the coalesced records, one row each.
    assert (
        warehouse.execute(
            "SELECT count(*) FROM customer_360 c ANTI JOIN unified_coalesced u USING (customer_id)"
        ).fetchone()[0]
        == 0
    )
    assert (
        customers
        == warehouse.execute("SELECT count(DISTINCT customer_id) FROM customer_360").fetchone()[0]
    )
    # The demo has DEMO_PEOPLE true people; identity lands close to that.
    assert abs(customers - DEMO_PEOPLE) / DEMO_PEOPLE < 0.05


def test_sandbox_holds_exactly_what_was_confirmed(warehouse, sandbox_state):
    delivered = warehouse.execute(
        "SELECT identifier, sum(data_points) FROM braze_sync_results WHERE status = 'delivered' GROUP BY identifier"
    ).fetchall()
    assert delivered, "the first sync delivered nothing"
    profiles = sandbox_state["profiles"]
    gone = {
        row[0]
        for row in warehouse.execute(
            "SELECT merge_identifier FROM braze_profile_merges WHERE status = 'merged' "
            "UNION SELECT identifier FROM braze_profile_deletions WHERE status = 'deleted'"
        ).fetchall()
    }
    for identifier, _points in delivered:
        assert (identifier in profiles) != (identifier in gone)
    # Attribute data points; events are billed apart (one per order event).
    attribute_points = sum(
        n
        for name, n in sandbox_state["points"]["by_attribute"].items()
        if not name.startswith(("event:", "purchase:"))
    )
    assert sum(points for _, points in delivered) == attribute_points
    # A delivered first name in the sandbox equals the one in the attributes table.
    identifier, first_name = warehouse.execute(
        "SELECT identifier, first_name FROM braze_customer_attributes a "
        "JOIN braze_sync_results r USING (identifier) "
        "WHERE r.status = 'delivered' AND first_name IS NOT NULL LIMIT 1"
    ).fetchone()
    assert profiles[identifier]["first_name"] == first_name


def test_update_existing_only_rejections_are_reported(warehouse, sandbox_state):
    rejected = warehouse.execute(
        "SELECT identifier, reason FROM braze_sync_results WHERE status = 'rejected'"
    ).fetchall()
    for identifier, reason in rejected:
        assert reason
        assert identifier not in sandbox_state["profiles"]


def test_demo_merges_deletes_and_sends_orders_once(demo_run, warehouse, sandbox_state):
    """The demo's second act: a guest account consolidated into a main account ends in one Braze
    profile (/users/merge), a privacy request deletes a profile, orders go as eCommerce events."""
    import json

    act = json.loads((demo_run.data_dir / "demo_data" / "lifecycle_act.json").read_text())
    profiles = sandbox_state["profiles"]
    guest, main = act["merge"]["guest_external_id"], act["merge"]["main_external_id"]
    forgotten = act["privacy_request"]["external_id"]
    assert guest not in profiles and main in profiles and forgotten not in profiles
    assert warehouse.execute(
        "SELECT merge_identifier, keep_identifier, status FROM braze_profile_merges"
    ).fetchall() == [(guest, main, "merged")]
    assert warehouse.execute(
        "SELECT identifier, reason, status FROM braze_profile_deletions"
    ).fetchall() == [(forgotten, "privacy_request", "deleted")]
    # Never sent again: not in the day's snapshot, although the customer is still in the sources.
    assert not warehouse.execute(
        "SELECT count(*) FROM attribute_snapshots WHERE identifier = ?", [forgotten]
    ).fetchone()[0]
    # Each confirmed order event is in Braze once (the deleted profile took its events along).
    confirmed = dict(
        warehouse.execute(
            "SELECT identifier, count(*) FROM braze_event_log WHERE status = 'confirmed' "
            "AND name = 'ecommerce.order_placed' GROUP BY 1"
        ).fetchall()
    )
    assert confirmed
    in_braze = sum(
        p.get("custom_events", {}).get("ecommerce.order_placed", {}).get("count", 0)
        for p in profiles.values()
    )
    assert in_braze == sum(n for i, n in confirmed.items() if i != forgotten)
    for line in ("Braze profiles merged", "Braze profiles deleted"):
        assert re.search(rf"{line}\s+1\n", demo_run.output), demo_run.output
    assert re.search(r"order events sent \(once each\)\s+[1-9]", demo_run.output)


def test_currents_events_are_deduplicated(warehouse):
    assert (
        warehouse.execute(
            "SELECT count(*) - count(DISTINCT event_id) FROM currents_events"
        ).fetchone()[0]
        == 0
    )


def test_second_run_sends_nothing_and_duplicates_nothing(demo_run, warehouse):
    before = {
        t: _count(warehouse, t) for t in ("customer_360", "unified_coalesced", "currents_events")
    }
    results_before = _count(warehouse, "braze_sync_results")
    warehouse.close()
    result = run_cli("demo", env=demo_run.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"data points spent\s+0\n", result.stdout), result.stdout
    assert re.search(r"Braze profiles merged\s+0\n", result.stdout), result.stdout
    assert re.search(r"order events sent \(once each\)\s+0\n", result.stdout), result.stdout
    with duckdb.connect(str(demo_run.data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert {t: _count(con, t) for t in before} == before
        assert _count(con, "braze_sync_results") == results_before
