"""The shipped demo audiences load against the real catalogue and run on a warehouse shaped like the real view."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import duckdb
import pytest
import yaml

from braze_assets.audiences import (
    AudiencesConfig,
    build_campaign_members,
    check_audiences,
    compile_segment,
)
from braze_assets.audiences.columns import catalogue_types
from braze_assets.config.sources import SourceConfig
from braze_assets.settings import DEMO_CONFIG_DIR
from braze_assets.warehouse import quote

from .conftest import AS_OF

# Values chosen so every demo segment has members: i runs over 0..599.
_VALUES = {
    "customer_id": "'c' || i",
    "external_id": "'E' || i",
    "email": "CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || i || '@example.com' END",
    "loyalty_tier": "['Bronze', 'Silver', 'Gold', 'Platinum'][i % 4 + 1]",
    "lifetime_order_revenue": "(i * 7) % 3000",
    "lifetime_order_frequency": "i % 9",
    "l12m_order_frequency": "i % 6",
    "l12m_order_revenue": "(i * 13) % 2000",
    "latest_order_revenue": "(i * 5) % 300",
    "days_since_latest_order": "(i * 3) % 500",
    "latest_order_date": "CAST($as_of AS DATE) - CAST((i * 3) % 500 AS INTEGER)",
    "preferred_channel": "CASE WHEN i % 2 = 0 THEN 'web' ELSE 'store' END",
    "email_opt_in": "CASE WHEN i % 7 = 0 THEN 'false' ELSE 'true' END",
    "email_unsubscribes": "CASE WHEN i % 11 = 0 THEN 1 ELSE 0 END",
}


def _demo_sources() -> list[SourceConfig]:
    return [
        SourceConfig.model_validate(s)
        for s in yaml.safe_load((DEMO_CONFIG_DIR / "sources.yaml").read_text())["sources"]
    ]


def _demo_destinations() -> list[SimpleNamespace]:
    return [
        SimpleNamespace(name=d["name"], attributes=[SimpleNamespace(**a) for a in d["attributes"]])
        for d in yaml.safe_load((DEMO_CONFIG_DIR / "destinations.yaml").read_text())["destinations"]
    ]


@pytest.fixture(scope="module")
def demo():
    section = yaml.safe_load((DEMO_CONFIG_DIR / "audiences.yaml").read_text())["audiences"]
    audiences = AudiencesConfig.model_validate(
        section, context={"config_dir": str(DEMO_CONFIG_DIR)}
    )
    sources = _demo_sources()
    check_audiences(
        SimpleNamespace(audiences=audiences, sources=sources, destinations=_demo_destinations())
    )
    carried = [c for s in sources for c, tag in s.columns.items() if tag == "attribute"]
    return audiences, dict(catalogue_types(carried))


def test_demo_ships_the_realistic_audiences(demo):
    audiences, _ = demo
    names = {a.name for a in audiences.activations()}
    assert {
        "vip_appreciation",
        "winback_lapsing",
        "loyalty_upgrade_nudge",
        "top_spenders_weekly",
    } <= names
    winback = audiences.activation("winback_lapsing")
    assert "recent_purchasers" in winback.exclude and winback.control_group_percent == 10
    assert audiences.sql_audience("top_spenders").sql_file == "audiences/top_spenders.sql"


def test_every_demo_segment_compiles_against_the_catalogue(demo):
    audiences, columns = demo
    for segment in audiences.segments:
        compiled = compile_segment(segment.name, audiences, columns)
        assert compiled.sql.count("?") == len(compiled.params)


def test_every_demo_campaign_runs(demo, tmp_path):
    audiences, columns = demo
    warehouse = tmp_path / "warehouse.duckdb"
    select = ", ".join(
        f"CAST({_VALUES.get(name, 'NULL')} AS {type_}) AS {quote(name)}"
        for name, type_ in columns.items()
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f"CREATE TABLE customer_attribute_source AS SELECT {select} FROM range(600) AS t(i)",
            {"as_of": AS_OF},
        )
    reports = {
        a.name: build_campaign_members(warehouse, a.name, audiences, AS_OF, "r1")
        for a in audiences.activations()
    }
    for name, report in reports.items():
        assert report.treatment > 0, name
    winback = reports["winback_lapsing"]
    assert 0 < winback.control < winback.size * 0.25 and winback.excluded > 0
    assert set(reports["vip_appreciation"].audience_sizes) == {"gold_plus", "other"}
    # the analyst query keeps the top 5% of spenders with a positive 12-month revenue and an email
    assert reports["top_spenders_weekly"].size == pytest.approx(0.05 * 540 * 0.99, abs=6)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        recent = con.execute(
            "SELECT count(*) FROM audience_members m JOIN customer_attribute_source s USING (customer_id) "
            "WHERE m.campaign = 'winback_lapsing' AND s.latest_order_date >= ?",
            [(AS_OF - timedelta(days=30)).date()],
        ).fetchone()[0]
    assert recent == 0
