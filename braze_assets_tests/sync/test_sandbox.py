"""The sync against the local Braze sandbox over real HTTP, counting data points on its side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY, FaultConfig
from braze_assets.sync.journal import read_outcomes
from braze_assets.sync.runner import SyncBlocked
from braze_assets.sync.snapshots import build_snapshot
from braze_assets.sync.tables import ensure_tables
from braze_assets_tests.sync.conftest import (
    DAY1,
    DAY2,
    destination_config,
    put_customer_attributes,
    put_members,
    put_snapshot,
    sync_us,
    value,
)

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(sandbox):
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=2) as braze:
        yield braze


def sync(con, client, tmp_path, *, dry_run=False, **settings):
    destination = destination_config()
    clear = [m.name for m in destination.attributes if m.nulls == "clear"]
    return sync_us(con, client, tmp_path / "journal", clear=clear, dry_run=dry_run, **settings)


def customers(k=20, tier="gold"):
    return [(f"u{i:03d}", tier, 10 + i, i / 10) for i in range(k)]


def test_change_only_sync_spends_exactly_the_changes(con, tmp_path, sandbox, client):
    people = customers(20)
    sandbox.seed_users(p[0] for p in people)
    put_customer_attributes(con, people)
    build_snapshot(con, [destination_config()], DAY1)
    first = sync(con, client, tmp_path)
    assert (
        first.objects_delivered == 20
        and sandbox.data_points_spent() == 60 == first.data_points_spent
    )

    requests = sandbox.stats()["requests"]
    second = sync(con, client, tmp_path)
    assert second.diff.objects == 0 and sandbox.stats()["requests"] == requests
    assert sandbox.data_points_spent() == 60

    k = 7
    people = [(e, "platinum" if i < k else t, v, s) for i, (e, t, v, s) in enumerate(people)]
    put_customer_attributes(con, people)
    build_snapshot(con, [destination_config()], DAY2)
    third = sync(con, client, tmp_path)
    assert sandbox.data_points_spent() == 60 + k == 60 + third.data_points_spent
    assert sandbox.profile("u000")["custom_attributes"]["loyalty_tier"] == "platinum"
    assert sandbox.profile("u000")["custom_attributes"]["lifetime_value"] == 10.0


def test_leaving_audiences_sends_the_leave(con, tmp_path, sandbox, client):
    sandbox.seed_users(["u1", "u2"])
    put_customer_attributes(con, [("u1", "gold", 1, 0.5), ("u2", "gold", 2, 0.5)])
    put_members(
        con,
        [
            ("winback", "u1", "treatment", "boolean", "in_winback", None),
            ("spring", "u1", "treatment", "array", "campaigns", "spring"),
            ("summer", "u1", "treatment", "array", "campaigns", "summer"),
        ],
    )
    build_snapshot(con, [destination_config()], DAY1)
    sync(con, client, tmp_path)
    attrs = sandbox.profile("u1")["custom_attributes"]
    assert attrs["in_winback"] is True and sorted(attrs["campaigns"]) == ["spring", "summer"]
    spent = sandbox.data_points_spent()

    put_members(con, [("summer", "u1", "treatment", "array", "campaigns", "summer")])
    build_snapshot(con, [destination_config()], DAY2)
    report = sync(con, client, tmp_path)
    assert report.diff.leaves == 2 and report.diff.values == 2
    attrs = sandbox.profile("u1")["custom_attributes"]
    assert attrs["in_winback"] is False and attrs["campaigns"] == ["summer"]
    assert sandbox.data_points_spent() == spent + 2


def test_rejections_stay_pending_and_are_reported(con, tmp_path, sandbox, client):
    sandbox.seed_users(["u1"])  # u2 does not exist: _update_existing_only makes Braze reject it
    put_customer_attributes(con, [("u1", "gold", 1, 0.5), ("u2", "gold", 2, 0.5)])
    build_snapshot(con, [destination_config()], DAY1)
    report = sync(con, client, tmp_path)
    assert (report.objects_delivered, report.objects_rejected) == (1, 1)
    reasons = con.execute(
        "SELECT DISTINCT identifier, reason FROM braze_sync_rejections"
    ).fetchall()
    assert len(reasons) == 1 and reasons[0][0] == "u2" and "No existing user" in reasons[0][1]
    assert (
        con.execute(
            "SELECT count(*) FROM braze_confirmed_state WHERE identifier = 'u2'"
        ).fetchone()[0]
        == 0
    )

    again = sync(con, client, tmp_path)
    assert again.diff.objects == 0 and again.diff.held_back == 3

    sandbox.seed_users(["u2"])
    put_customer_attributes(con, [("u1", "gold", 1, 0.5), ("u2", "silver", 2, 0.5)])
    build_snapshot(con, [destination_config()], DAY2)
    retry = sync(con, client, tmp_path)
    assert (
        retry.objects_delivered == 1 and retry.diff.values == 1
    )  # only the changed value is retried
    assert sandbox.profile("u2")["custom_attributes"] == {"loyalty_tier": "silver"}


def test_budget_stop_and_dry_run_send_nothing(con, tmp_path, sandbox, client):
    sandbox.seed_users(p[0] for p in customers(10))
    put_customer_attributes(con, customers(10))
    build_snapshot(con, [destination_config()], DAY1)
    preview = sync(con, client, tmp_path, dry_run=True, dry_run_sample_size=2)
    assert (
        preview.diff.adds == 30
        and preview.diff.forecast_data_points == 30
        and len(preview.samples) == 2
    )
    with pytest.raises(SyncBlocked, match="would spend 30 data points"):
        sync(con, client, tmp_path, data_point_budget=29)
    assert sandbox.stats()["requests"] == 0 and sandbox.data_points_spent() == 0


def test_killed_run_resumes_without_resending_confirmed(tmp_path, sandbox, client):
    n = 3000
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_tables(con)
        # One billable attribute per object: the sandbox's data point count = objects applied.
        put_snapshot(con, DAY1, [value(f"u{i:05d}", "v", str(i), "integer") for i in range(n)])
    sandbox.seed_users(f"u{i:05d}" for i in range(n))
    sandbox.set_faults(FaultConfig(latency_ms=20))
    journal_root = tmp_path / "journal"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "braze_assets_tests.sync.sync_child",
            str(warehouse),
            str(journal_root),
            sandbox.url,
        ],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    deadline = time.monotonic() + 60
    outcomes = None
    while time.monotonic() < deadline and child.poll() is None:
        files = list(journal_root.glob("braze_us/*/outcomes.jsonl"))
        if files and files[0].stat().st_size and files[0].read_bytes().count(b"\n") >= 8:
            outcomes = files[0]
            break
        time.sleep(0.01)
    assert outcomes is not None, "the child finished or stalled before it could be killed mid-sync"
    # The sandbox applies a request on arrival and delays only its answer: from here on every
    # request is applied by "Braze" but never answered -- the batches in flight at the kill.
    sandbox.set_faults(FaultConfig(latency_ms=3000))
    time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    sandbox.set_faults(FaultConfig())
    journaled = read_outcomes(outcomes.parent)
    recorded = int((journaled["status"] == "delivered").sum())
    applied_before = sandbox.data_points_spent()
    in_flight = applied_before - recorded
    # Concurrency 2 x 75 objects were applied by the sandbox but never answered.
    assert 0 < recorded < n and 0 < in_flight <= 2 * 75

    with duckdb.connect(str(warehouse)) as con:
        report = sync_us(con, client, journal_root)
        assert report.recovered_runs and report.diff.objects == n - recorded
        assert sandbox.data_points_spent() == n + in_flight
        state = dict(
            con.execute("SELECT identifier, value_json FROM braze_confirmed_state").fetchall()
        )
        assert state == {f"u{i:05d}": str(i) for i in range(n)}
        runs = con.execute(
            "SELECT status, objects_delivered FROM braze_sync_runs ORDER BY started_at"
        ).fetchall()
        assert runs == [("interrupted", recorded), ("completed", n - recorded)]
        assert sync_us(con, client, journal_root).diff.objects == 0
    assert all(p["custom_attributes"]["v"] == int(p["external_id"][1:]) for p in sandbox.profiles())
