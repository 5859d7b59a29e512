"""The identity and customer 360 assets materialise on a real warehouse file with their checks."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from braze_assets import settings
from braze_assets.defs.customer_360.profile import build_profile_assets
from braze_assets.defs.identity.assets import build_identity_assets
from braze_assets.defs.identity.checks import build_identity_checks
from braze_assets_tests.identity.fixtures import demo_config, load_sources, write_demo_sources

pytestmark = pytest.mark.integration


def test_assets_and_checks_materialise(tmp_path, monkeypatch, identity):
    import duckdb

    write_demo_sources(tmp_path, 120)
    config = demo_config()
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        load_sources(con, config, tmp_path)
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path))
    result = dg.materialize(
        [*build_identity_assets(config, identity), *build_profile_assets(config, identity)],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        selection=["unified_standardised", "unified_scores", "unified_coalesced", "customer_360"],
    )
    assert result.success
    coalesced = result.asset_materializations_for_node("unified_coalesced")[0].metadata
    assert coalesced["ids_created"].value == coalesced["customers"].value > 0
    # The model's tables render as UI tables (sortable), not markdown text.
    scores = result.asset_materializations_for_node("unified_scores")[0].metadata
    for key in ("threshold_grid", "match_weights", "blocking_analysis", "field_profile"):
        assert isinstance(scores[key], dg.TableMetadataValue | dg.TextMetadataValue), key
    # Why two accounts joined or stayed apart is shown beside the counts it rests on.
    assert "Separation keys (external_id, loyalty_id)" in scores["separation_reasoning"].value
    assert scores["separation_override_pairs"].value <= scores["separation_conflict_pairs"].value
    profile = scores["field_profile"]
    assert isinstance(profile, dg.TableMetadataValue) and profile.records
    assert {"field", "filled", "distinct"} <= set(profile.records[0].data)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"tagged_columns_usable": True, "one_row_per_customer": True}

    checked = dg.materialize(
        [*build_identity_assets(config, identity), *build_identity_checks(identity)],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        selection=dg.AssetSelection.checks_for_assets("unified_coalesced"),
        # 120 people are too few for the demo's min_f1: the blocking check fails the step.
        raise_on_error=False,
    )
    evaluations = {c.check_name: c for c in checked.get_asset_check_evaluations()}
    assert set(evaluations) == {"quality_against_truth", "identity_heuristics"}
    assert evaluations["quality_against_truth"].metadata["precision"].value >= 0.95
