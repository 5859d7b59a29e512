"""Standardise -> score -> cluster -> evaluate on a real DuckDB file with known truth."""

from __future__ import annotations

from datetime import datetime

import pytest

from braze_assets.identity.cluster import cluster_and_assign_ids
from braze_assets.identity.match import score_pairs
from braze_assets.identity.quality import evaluate_against_truth, heuristic_quality
from braze_assets.identity.standardise import standardise

pytestmark = pytest.mark.integration


def test_demo_sources_resolve_to_people(demo_warehouse, identity):
    con, config, data_dir = demo_warehouse
    report = standardise(con, config, identity)
    assert report.rows == sum(report.rows_per_source.values())
    assert report.problems == []
    junk = {(c.source, c.tag): c.junk for c in report.columns}
    assert (
        junk[("ecommerce", "email")] > 0 and junk[("ecommerce", "phone")] > 0
    )  # test@test.com, 000-000-0000
    row = con.execute(
        "SELECT email, email_display, phone, country, postal_code FROM unified_standardised "
        "WHERE email_display LIKE '%+shop@%' AND phone IS NOT NULL AND country IS NOT NULL LIMIT 1"
    ).fetchone()
    assert "+shop" not in row[0] and row[1].endswith(row[0].split("@")[1])
    assert row[2].startswith("+1") and row[3] == "US" and len(row[4]) == 5

    scores = score_pairs(con, identity)
    assert (
        scores.pairs > 0
        and scores.probabilistic_pairs > 0
        and "deterministic:email" in scores.deterministic_pairs
    )
    assert not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '__splink__%'"
    ).fetchone()[0]
    columns = {r[0] for r in con.execute("DESCRIBE unified_scores").fetchall()}
    assert {
        "record_id_l",
        "record_id_r",
        "match_probability",
        "match_weight",
        "match_category",
        "match_type",
        "gamma_given_name",
        "gamma_address",
    } <= columns
    categories = {
        r[0] for r in con.execute("SELECT DISTINCT match_category FROM unified_scores").fetchall()
    }
    assert categories <= {"exact", "excellent", "high", "moderate", "weak"}

    clusters = cluster_and_assign_ids(con, identity, run_id="run-1", now=datetime(2026, 1, 1))
    assert clusters.records == report.rows and clusters.created == clusters.customers
    quality = evaluate_against_truth(con, data_dir / "demo_truth" / "person_truth.csv")
    assert quality.records == report.rows
    # A few hundred records train a rougher model than the demo's tens of thousands (F1 0.985 there).
    assert quality.precision >= 0.95 and quality.recall >= 0.8, quality
    heuristics = heuristic_quality(con)
    assert heuristics["customers"] == clusters.customers and 0 < heuristics["singleton_share"] < 1


def test_evaluate_counts_pairs_exactly(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    # Truth: {a,b,c} one person, {d} another. Output: {a,b} and {c,d}.
    con.execute(
        "CREATE TABLE unified_coalesced AS SELECT * FROM (VALUES ('s','a','C1'),('s','b','C1'),('s','c','C2'),('s','d','C2')) t(source, source_pk, customer_id)"
    )
    (tmp_path / "truth.csv").write_text(
        "source,source_pk,person_id\ns,a,P1\ns,b,P1\ns,c,P1\ns,d,P2\n"
    )
    q = evaluate_against_truth(con, tmp_path / "truth.csv")
    assert (q.true_pairs, q.predicted_pairs, q.correct_pairs) == (3, 2, 1)
    assert (
        q.precision == pytest.approx(0.5)
        and q.recall == pytest.approx(1 / 3)
        and q.cluster_purity == pytest.approx(0.75)
    )
