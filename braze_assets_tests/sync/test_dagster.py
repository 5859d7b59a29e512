"""The Dagster wiring: snapshot + sync assets for a partition against the sandbox, checks, gates."""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets import settings
from braze_assets.defs.braze.resources import BrazeResource
from braze_assets.defs.snapshots.assets import build_snapshot_asset
from braze_assets.defs.snapshots.checks import GATE, payload_valid
from braze_assets.defs.snapshots.partitions import daily_partitions
from braze_assets.defs.sync.assets import build_sync_asset, sync_asset_key
from braze_assets.defs.sync.checks import build_sync_checks
from braze_assets.sandbox import DEFAULT_API_KEY, SandboxServer
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.gates import DUPLICATES
from braze_assets_tests.sync.conftest import destination_config, put_customer_attributes

pytestmark = pytest.mark.integration
DAY = "2026-11-02"
SYNC_KEY = sync_asset_key("braze_us")
SYNC_OP = SYNC_KEY.to_python_identifier()


@contextmanager
def warehouse_and_sandbox(tmp_path, monkeypatch, rows):
    """A warehouse holding `rows` of braze_customer_attributes and a running sandbox."""
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path))
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        put_customer_attributes(con, rows)
    sandbox = SandboxServer(tmp_path / "sandbox", rate_limit_requests=None).start()
    try:
        yield warehouse, sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def setup(tmp_path, monkeypatch):
    rows = [("u1", "gold", 1, 0.5), ("u2", "silver", 2, 0.25), ("u3", "gold", 3, 0.1)]
    with warehouse_and_sandbox(tmp_path, monkeypatch, rows) as (warehouse, sandbox):
        sandbox.seed_users(["u1", "u2"])  # u3 is unknown: rejected under _update_existing_only
        yield warehouse, sandbox


def test_materialise_snapshot_and_sync_with_checks(setup):
    warehouse, sandbox = setup
    destination = destination_config()
    config = SyncConfig(data_point_budget=100, destinations={"braze_us": {"data_point_budget": 5}})
    partitions = daily_partitions(config)
    assets = [
        build_snapshot_asset([destination], config, partitions),
        build_sync_asset(destination, config, partitions),
    ]
    resources = {
        "duckdb": DuckDBResource(database=str(warehouse)),
        "braze": BrazeResource(api_key=DEFAULT_API_KEY, rest_endpoint=sandbox.url),
    }
    checks = build_sync_checks(destination, config)

    blocked = dg.materialize(assets, partition_key=DAY, resources=resources, raise_on_error=False)
    assert not blocked.success and sandbox.data_points_spent() == 0
    failure = next(e for e in blocked.all_events if e.is_step_failure)
    assert "would spend 9 data points" in failure.step_failure_data.error.message

    result = dg.materialize(
        assets + checks,
        partition_key=DAY,
        resources=resources,
        run_config={"ops": {SYNC_OP: {"config": {"override_budget": True}}}},
    )
    meta = next(m for m in result.asset_materializations_for_node(SYNC_OP)).metadata
    assert (
        meta["delivered"].value == 2
        and meta["rejected"].value == 1
        and meta["data_points_spent"].value == 6
    )
    assert sandbox.data_points_spent() == 6
    checks_by_name = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks_by_name["rejected_rows"].passed is False
    assert checks_by_name["rejected_rows"].metadata["rejected_values"].value == 3
    budget = checks_by_name["data_point_budget"]
    assert budget.passed and budget.metadata["forecast_data_points"].value == 0
    assert budget.asset_key == SYNC_KEY


def test_a_bad_snapshot_stops_the_sync_before_anything_is_sent(tmp_path, monkeypatch):
    """Two customers claim one identifier and one has an empty one: the blocking payload check
    fails, the sync of the run does not start, and a sync run on its own refuses to send."""
    rows = [("u1", "gold", 1, 0.5), ("u1", "silver", 2, 0.25), ("", "gold", 3, 0.1)]
    with warehouse_and_sandbox(tmp_path, monkeypatch, rows) as (warehouse, sandbox):
        destination = destination_config()
        config = SyncConfig(data_point_budget=100)
        partitions = daily_partitions(config)
        assets = [
            build_snapshot_asset([destination], config, partitions),
            build_sync_asset(destination, config, partitions),
            payload_valid,
        ]
        resources = {
            "duckdb": DuckDBResource(database=str(warehouse)),
            "braze": BrazeResource(api_key=DEFAULT_API_KEY, rest_endpoint=sandbox.url),
        }
        with dg.instance_for_test() as instance:
            run = dg.materialize(
                assets,
                partition_key=DAY,
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
            gate = next(c for c in run.get_asset_check_evaluations() if c.check_name == GATE)
            assert not gate.passed
            assert gate.metadata["problems"].value == {
                "rows with an empty identifier": 3,
                "rows with an identifier over 512 characters": 0,
                "rows whose value is not valid JSON": 0,
                DUPLICATES: 6,
            }
            materialised = {e.asset_key for e in run.get_asset_materialization_events()}
            assert materialised == {dg.AssetKey("attribute_snapshots")}
            assert sandbox.request_log() == []

            # The sync on its own (by hand, or the automation after the snapshot's run).
            alone = dg.materialize(
                assets,
                selection=[SYNC_KEY],
                partition_key=DAY,
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
            assert not alone.success
            failure = next(e for e in alone.all_events if e.is_step_failure)
            message = failure.step_failure_data.user_failure_data.description
            assert message == (
                "braze_us: nothing sent to Braze, the attribute_snapshots of 2026-11-02 fails "
                f"payload_valid: 3 rows with an empty identifier; 6 {DUPLICATES}"
            ), message
            assert sandbox.request_log() == [] and sandbox.data_points_spent() == 0
