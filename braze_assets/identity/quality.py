"""How good is the clustering: against ground truth when there is some, by heuristics always."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from braze_assets.identity.cluster import TABLE as COALESCED


@dataclass(frozen=True)
class QualityReport:
    records: int
    precision: float
    recall: float
    f1: float
    cluster_purity: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


def pairwise_quality(con: duckdb.DuckDBPyConnection, relation: str) -> dict:
    """Pairwise precision, recall and F1 of a clustering: `relation` (a table name or a SELECT in
    parentheses) holds one row per record with columns `cluster` and `person` (the truth)."""

    def pairs(by: str) -> str:
        return f"(SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM e GROUP BY {by}))"

    predicted, true, correct = con.execute(
        f"WITH e AS (SELECT * FROM {relation}) "
        f"SELECT {pairs('cluster')}, {pairs('person')}, {pairs('cluster, person')}"
    ).fetchone()
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "predicted_pairs": int(predicted),
        "true_pairs": int(true),
        "correct_pairs": int(correct),
    }


def evaluate_against_truth(con: duckdb.DuckDBPyConnection, truth_csv: Path) -> QualityReport:
    """Pairwise precision / recall / F1 and purity over records present in both truth and output."""
    truth_csv = Path(truth_csv)
    if not truth_csv.exists():
        raise FileNotFoundError(f"ground truth file {truth_csv} does not exist")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _identity_eval AS SELECT c.customer_id AS cluster, t.person_id AS person "
        f"FROM {COALESCED} c JOIN read_csv(?, all_varchar = true) t ON t.source = c.source AND t.source_pk = c.source_pk",
        [str(truth_csv)],
    )
    try:
        records = con.execute("SELECT count(*) FROM _identity_eval").fetchone()[0]
        if records == 0:
            raise ValueError(
                f"no record of {COALESCED} appears in {truth_csv} (columns source, source_pk, person_id)"
            )
        quality = pairwise_quality(con, "_identity_eval")
        majority = con.execute(
            "SELECT sum(m) FROM (SELECT max(n) AS m FROM (SELECT cluster, person, count(*) AS n "
            "FROM _identity_eval GROUP BY ALL) GROUP BY cluster)"
        ).fetchone()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS _identity_eval")
    return QualityReport(records=records, cluster_purity=majority / records, **quality)


def heuristic_quality(con: duckdb.DuckDBPyConnection, *, top: int = 5) -> dict:
    """Signals that need no ground truth; numbers only, so they plot over runs."""
    customers, singletons, many_names, held = con.execute(f"""
        SELECT count(*), count_if(n = 1), count_if(names > 3), sum(held)
        FROM (SELECT customer_id, count(*) AS n, count(DISTINCT given_name_canonical) AS names,
                     count_if(held_back) AS held FROM {COALESCED} GROUP BY customer_id)
    """).fetchone()
    largest = [
        r[0]
        for r in con.execute(
            f"SELECT count(*) AS n FROM {COALESCED} GROUP BY customer_id ORDER BY n DESC LIMIT {int(top)}"
        ).fetchall()
    ]
    records = con.execute(f"SELECT count(*) FROM {COALESCED}").fetchone()[0]
    return {
        "records": records,
        "customers": customers,
        "records_per_customer": records / customers if customers else 0.0,
        "singleton_share": singletons / customers if customers else 0.0,
        "customers_with_over_3_given_names": many_names,
        "share_with_over_3_given_names": many_names / customers if customers else 0.0,
        "largest_cluster_sizes": largest,
        "held_back_records": int(held or 0),
    }
