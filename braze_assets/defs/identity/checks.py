"""Quality of identity resolution as asset checks: against ground truth when it exists, heuristics always."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets import settings
from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.resources import read_only_connection
from braze_assets.identity.cluster import TABLE as COALESCED
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.quality import evaluate_against_truth, heuristic_quality

TRUTH = Path("demo_truth") / "person_truth.csv"


def build_identity_checks(identity: IdentityConfig) -> list[dg.AssetChecksDefinition]:
    thresholds = identity.checks

    @dg.asset_check(
        asset=COALESCED,
        pool=WAREHOUSE_POOL,
        # Blocking: a bad identity resolution would merge or split Braze profiles.
        blocking=True,
        description=f"Pairwise precision / recall / F1 against <data dir>/{TRUTH} (skipped without it). "
        "Blocking: below identity.checks.min_f1 nothing downstream is rebuilt or sent.",
    )
    def quality_against_truth(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        truth = settings.data_dir() / TRUTH
        if not truth.exists():
            return dg.AssetCheckResult(
                passed=True, metadata={"truth_file": dg.MetadataValue.text(f"none at {truth}")}
            )
        with read_only_connection(duckdb) as con:
            q = evaluate_against_truth(con, truth)
        return dg.AssetCheckResult(
            passed=q.f1 >= thresholds.min_f1,
            metadata={
                "precision": dg.MetadataValue.float(q.precision),
                "recall": dg.MetadataValue.float(q.recall),
                "f1": dg.MetadataValue.float(q.f1),
                "cluster_purity": dg.MetadataValue.float(q.cluster_purity),
                "records_evaluated": dg.MetadataValue.int(q.records),
                "min_f1": dg.MetadataValue.float(thresholds.min_f1),
            },
        )

    @dg.asset_check(
        asset=COALESCED,
        pool=WAREHOUSE_POOL,
        blocking=True,
        description="No ground truth needed: customers with >3 given names, largest clusters, singletons, "
        "held-back records. Blocking: over the identity.checks limits nothing downstream is rebuilt or sent.",
    )
    def identity_heuristics(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with read_only_connection(duckdb) as con:
            h = heuristic_quality(con)
        return dg.AssetCheckResult(
            passed=h["share_with_over_3_given_names"] <= thresholds.max_share_over_3_given_names
            and h["held_back_records"] <= thresholds.max_held_back_records,
            metadata={
                "customers": dg.MetadataValue.int(h["customers"]),
                "singleton_share": dg.MetadataValue.float(h["singleton_share"]),
                "records_per_customer": dg.MetadataValue.float(h["records_per_customer"]),
                "customers_with_over_3_given_names": dg.MetadataValue.int(
                    h["customers_with_over_3_given_names"]
                ),
                "largest_cluster": dg.MetadataValue.int(
                    h["largest_cluster_sizes"][0] if h["largest_cluster_sizes"] else 0
                ),
                "largest_cluster_sizes": dg.MetadataValue.text(
                    ", ".join(map(str, h["largest_cluster_sizes"]))
                ),
                "held_back_records": dg.MetadataValue.int(h["held_back_records"]),
            },
        )

    return [quality_against_truth, identity_heuristics]
