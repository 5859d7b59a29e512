"""Connected components as the engines compute them: union-find on DuckDB's driver, and the
minimum-label propagation in SQL that Spark runs (checked here on DuckDB, whose SQL it is)."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa

from braze_assets.engine.base import propagate_components
from braze_assets.engine.duckdb_engine import DuckDBEngine
from braze_assets.engine.spark_engine import to_splink_spark_sql


def _graph(engine: DuckDBEngine, nodes: list[int], edges: list[tuple[int, int]]) -> None:
    engine.register("_nodes", pa.table({"node": pa.array(nodes, pa.int64())}))
    engine.register(
        "_edges",
        pa.table(
            {
                "l": pa.array([e[0] for e in edges], pa.int64()),
                "r": pa.array([e[1] for e in edges], pa.int64()),
            }
        ),
    )


def _labels(engine: DuckDBEngine, name: str) -> dict[int, int]:
    return dict(engine.fetch(f"SELECT node, component FROM {name}"))


def test_both_algorithms_label_each_component_by_its_smallest_node():
    engine = DuckDBEngine(duckdb.connect())
    # A long chain in shuffled order (many propagation rounds), a star, a cycle, loners.
    chain = list(range(100, 140))
    edges = [(a, b) for a, b in zip(chain, chain[1:])]
    edges += [(7, x) for x in (30, 3, 50)] + [(60, 61), (61, 62), (62, 60), (5, 5)]
    random.Random(1).shuffle(edges)
    nodes = sorted({n for e in edges for n in e} | {1, 2, 999})
    _graph(engine, nodes, edges)
    engine.components("_union_find", "SELECT node FROM _nodes", "SELECT l, r FROM _edges")
    propagate_components(
        engine, "_propagated", "SELECT node FROM _nodes", "SELECT l, r FROM _edges"
    )
    expected = {n: n for n in nodes}
    expected.update({n: 100 for n in chain})
    expected.update({n: 3 for n in (7, 30, 3, 50)})
    expected.update({n: 60 for n in (60, 61, 62)})
    assert _labels(engine, "_union_find") == expected
    assert _labels(engine, "_propagated") == expected


def test_random_graphs_agree():
    engine = DuckDBEngine(duckdb.connect())
    rng = random.Random(7)
    nodes = list(range(0, 400, 2))
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(150)]
    _graph(engine, nodes, edges)
    engine.components("_a", "SELECT node FROM _nodes", "SELECT l, r FROM _edges")
    propagate_components(engine, "_b", "SELECT node FROM _nodes", "SELECT l, r FROM _edges")
    assert _labels(engine, "_a") == _labels(engine, "_b")
    assert len(set(_labels(engine, "_a").values())) < len(nodes)


def test_custom_comparison_levels_call_the_functions_giving_duckdbs_values():
    sql = to_splink_spark_sql(
        "jaro_winkler_similarity(given_name_l, surname_r) >= 0.85 AND "
        "damerau_levenshtein(strftime(birthdate_l, '%Y%m%d'), strftime(birthdate_r, '%Y%m%d')) <= 1"
    )
    assert sql == (
        "braze_jaro_winkler(given_name_l, surname_r) >= 0.85 AND braze_damerau_levenshtein("
        "DATE_FORMAT(birthdate_l, 'yyyyMMdd'), DATE_FORMAT(birthdate_r, 'yyyyMMdd')) <= 1"
    )
    # sqlglot writes DuckDB's list_has_any as `a && b`, a boolean AND in Spark.
    assert to_splink_spark_sql("list_has_any(a_l, a_r)") == "ARRAYS_OVERLAP(a_l, a_r)"
