"""The Dagster wiring: the asset materialises with its metadata, the checks report."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets.defs.attributes.assets import build_attributes_asset
from braze_assets.defs.attributes.checks import build_attribute_checks
from braze_assets_tests.attributes.test_builder import braze_destination, warehouse

pytestmark = pytest.mark.integration


def test_asset_metadata_and_checks(tmp_path):
    path = tmp_path / "w.duckdb"
    con = warehouse(path)
    # Yesterday's snapshots: a counter that ticks for every profile every day.
    con.execute("""CREATE TABLE attribute_snapshots AS
        SELECT DATE '2026-01-01' + CAST(day AS INTEGER) AS snapshot_date, 'braze' AS destination, 'e' || i AS identifier,
               'purchase_recency' AS attribute, CAST(day + i AS VARCHAR) AS value_json
        FROM range(0, 4) d(day), range(0, 20) u(i)""")
    con.close()
    destinations = [braze_destination()]
    result = dg.materialize(
        [build_attributes_asset(destinations, carried=[]), *build_attribute_checks(destinations)],
        resources={"duckdb": DuckDBResource(database=str(path))},
    )
    assert result.success

    [materialization] = result.asset_materializations_for_node("braze_customer_attributes")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == 4
    assert "| dob | standard | `birthdate` | date |" in metadata["mapping"].value
    assert "bucket active < 90 / lapsing < 365 / lapsed" in metadata["mapping"].value
    assert metadata["sample_payload"].value["external_id"] == "e1"
    assert (
        metadata["rejected_values"].value == 9
    )  # 6 for c2, Narnia, and the shared external id twice

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    rejected = checks["rejected_values"]
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    by_reason = [r.data for r in rejected.metadata["by_attribute_and_reason"].records]
    assert any(
        (r["destination"], r["attribute"]) == ("braze", "gender")
        and r["reason"].startswith("unrecognised gender")
        for r in by_reason
    ), by_reason
    cost = checks["data_point_cost"]
    assert not cost.passed and "braze.purchase_recency" in cost.description
    assert cost.metadata["data_points_per_month"].value == 600
    assert any(
        "relative-date counter" in " ".join(map(str, r.data.values()))
        for r in cost.metadata["attributes"].records
    )
