"""Identity resolution as three assets, each one stage of the plain core in braze_assets.identity."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

from datetime import UTC, datetime

import dagster as dg

from braze_assets.config.model import ProjectConfig
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    copy_to_warehouse,
    engine_asset_args,
    engine_table_metadata,
    open_engine,
)
from braze_assets.defs.project import table_value
from braze_assets.identity.cluster import ASSIGNMENTS, REGISTRY, cluster_and_assign_ids
from braze_assets.identity.cluster import TABLE as COALESCED
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.match import TABLE as SCORES
from braze_assets.identity.match import score_pairs
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.identity.standardise import standardise

GROUP = "identity"


def _ints(values: dict) -> dict:
    return {k: dg.MetadataValue.int(int(v)) for k, v in values.items()}


def _threshold_note(report) -> str:
    if not report.threshold_chosen:
        return f"match_threshold {report.match_threshold} is set in the identity section."
    if not report.threshold_grid:
        return "No probabilistic pairs were scored; only deterministic links (probability 1.0) join records."
    return (
        f"Chosen **{report.match_threshold}**: the best expected F0.5 by the model's own match "
        "probabilities (a pair of probability p is a match with chance p; precision counts twice "
        "because one false link merges two whole customers). No ground truth is used; the grid is "
        "in `threshold_grid`."
    )


def _separation_note(report, identity) -> str:
    """Why two accounts (different values of a separation key) joined or stayed apart."""
    keys = ", ".join(identity.separation_keys) or "none"
    if identity.separation_override == "never":
        return f"Separation keys ({keys}): two different values are never one customer (separation_override: never)."
    return (
        f"Separation keys ({keys}): {report.separation_conflicts} scored pairs hold two different values "
        f"(two accounts); **{report.separation_overrides}** of them are taken as one person's two accounts "
        "and may join: the model links the pair, person-level evidence included, and would "
        "still link it with the name comparisons left out, or the pair shares one name and an "
        "agreement the model weighs above a shared town (strangers share a name and a town, rarely "
        "a phone, a birthdate or a street address); accounts joined by a chain of such pairs (both linked so "
        "to one loyalty record) join too. Any other pair of values is kept apart in clustering, also "
        "through a chain of weaker links. `separation_override: never` keeps every pair apart."
    )


def _num(value, digits: int = 5) -> str:
    return "untrained" if value is None else f"{value:.{digits}g}" if digits > 2 else f"{value:.2f}"


def _tables(report) -> dict:
    """The model's tables (grid, weights, blocking, field profile), or a note where one is empty."""
    tables = {
        "threshold_grid": (
            report.threshold_grid,
            [
                "threshold",
                "pairs_above",
                "expected_precision",
                "expected_recall",
                "expected_f1",
                "expected_f0_5",
            ],
            "No threshold grid: the threshold is set, or no probabilistic pair was scored.",
        ),
        "match_weights": (
            [
                {
                    **w,
                    "m": _num(w["m"]),
                    "u": _num(w["u"]),
                    "match_weight": _num(w["match_weight"], 2),
                }
                for w in report.weights
            ],
            ["comparison", "level", "m", "u", "match_weight"],
            "No probabilistic model (no comparison or blocking rule usable).",
        ),
        "blocking_analysis": (
            [
                {**e, "used": "yes" if e["kept"] else "no: " + e["why"]}
                for e in report.blocking_estimates
            ],
            ["rule", "comparisons", "used"],
            "Blocking rules set in the identity section: " + ", ".join(report.blocking_rules),
        ),
        "field_profile": (
            [
                {
                    "field": f,
                    "filled": f"{p['filled']:.1%}",
                    "distinct": p["distinct"],
                    "chance_two_records_agree": float(f"{p['random_agreement']:.2g}"),
                    "values_seen_once": f"{p['singleton_share']:.1%}",
                }
                for f, p in sorted(report.profile.items())
            ],
            ["field", "filled", "distinct", "chance_two_records_agree", "values_seen_once"],
            "No field profile.",
        ),
    }
    return {
        key: table_value(rows, columns) if rows else dg.MetadataValue.text(note)
        for key, (rows, columns, note) in tables.items()
    }


def build_identity_assets(
    config: ProjectConfig, identity: IdentityConfig
) -> list[dg.AssetsDefinition]:
    raw = [dg.AssetKey(f"raw_{s.name}") for s in config.sources]

    @dg.asset(
        name=STANDARDISED,
        group_name=GROUP,
        **engine_asset_args(),
        automation_condition=automation.derived(),
        deps=raw,
        description="Every source record with person fields normalised (E.164 phones, ISO countries, "
        "expanded addresses, nickname-canonical names); junk values are NULL and counted.",
        check_specs=[
            dg.AssetCheckSpec(
                "tagged_columns_usable",
                asset=STANDARDISED,
                description="Every tagged column has at least one usable value.",
            )
        ],
    )
    def unified_standardised(context: dg.AssetExecutionContext):
        with open_engine(context) as engine:
            report = standardise(engine, config, identity)
            metadata = engine_table_metadata(engine, STANDARDISED)
        for problem in report.problems:
            context.log.warning(problem)
        yield dg.MaterializeResult(
            metadata={
                **metadata,
                **_ints({"junk_values": report.junk_total, "invalid_values": report.invalid_total}),
                **_ints({f"rows_{s}": n for s, n in report.rows_per_source.items()}),
                "column_quality": table_value(
                    [
                        (c.source, c.column, c.tag, c.non_null, c.junk, c.invalid)
                        for c in report.columns
                    ],
                    ("source", "column", "tag", "non_null", "junk", "invalid"),
                ),
            }
        )
        yield dg.AssetCheckResult(
            check_name="tagged_columns_usable",
            passed=not report.problems,
            metadata={"problems": dg.MetadataValue.text("\n".join(report.problems) or "none")},
        )

    @dg.asset(
        name=SCORES,
        group_name=GROUP,
        **engine_asset_args("splink"),
        automation_condition=automation.derived(),
        deps=[dg.AssetKey(STANDARDISED)],
        description="Scored record pairs: Splink match probability and weight, match category "
        "(exact/excellent/high/moderate/weak), match type and per-comparison levels.",
    )
    def unified_scores(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with open_engine(context) as engine:
            report = score_pairs(engine, identity)
            metadata = engine_table_metadata(engine, SCORES)
        for note in report.skipped:
            context.log.info(f"skipped: {note}")
        for session, levels in report.em_floored.items():
            context.log.info(
                f"EM session on {session}: m held at Splink's floor (1e-300) for {', '.join(levels)}"
            )
        return dg.MaterializeResult(
            metadata={
                **metadata,
                **_ints(
                    {
                        "pairs": report.pairs,
                        "probabilistic_pairs": report.probabilistic_pairs,
                        # Two accounts (different separation-key values) scored, and joined
                        # as one person's accounts (identity.separation_override).
                        "separation_conflict_pairs": report.separation_conflicts,
                        "separation_override_pairs": report.separation_overrides,
                    }
                ),
                **_ints(
                    {
                        f"pairs_{k.replace(':', '_')}": v
                        for k, v in report.deterministic_pairs.items()
                    }
                ),
                **_ints({f"category_{k}": v for k, v in report.categories.items()}),
                "model_reused": dg.MetadataValue.bool(report.model_reused),
                "prior_match_probability": dg.MetadataValue.float(
                    float(report.probability_two_random_records_match or 0.0)
                ),
                "match_threshold": dg.MetadataValue.float(float(report.match_threshold or 0.0)),
                "threshold_reasoning": dg.MetadataValue.md(_threshold_note(report)),
                "separation_reasoning": dg.MetadataValue.md(_separation_note(report, identity)),
                **_tables(report),
                "em_sessions": dg.MetadataValue.text(", ".join(report.em_rules) or "none"),
            }
        )

    @dg.asset(
        name=COALESCED,
        group_name=GROUP,
        **engine_asset_args(warehouse_copy=True),
        automation_condition=automation.derived(),
        deps=[dg.AssetKey(SCORES)],
        description="Every source record with its stable customer_id (UUID) and cluster flags; "
        "id churn of the run in the metadata.",
    )
    def unified_coalesced(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with open_engine(context) as engine:
            report = cluster_and_assign_ids(
                engine, identity, run_id=context.run.run_id, now=datetime.now(UTC)
            )
            metadata = engine_table_metadata(engine, COALESCED)
        # In Spark mode the lifecycle stages, still on DuckDB, read these from the warehouse.
        copy_to_warehouse(context, COALESCED, order_by="customer_id, record_id")
        copy_to_warehouse(context, REGISTRY)
        copy_to_warehouse(context, ASSIGNMENTS, order_by="record_id")
        return dg.MaterializeResult(
            metadata={
                **metadata,
                **_ints(
                    {
                        "customers": report.customers,
                        "ids_created": report.created,
                        "ids_merged": report.merged,
                        "ids_split": report.split,
                        "ids_unchanged": report.unchanged,
                        "ids_changed": report.changed,
                        "ids_removed": report.removed,
                        "held_back_clusters": report.held_back_clusters,
                        "held_back_records": report.held_back_records,
                        "separation_refusals": report.separation_refusals,
                        "largest_cluster": report.largest_cluster,
                    }
                ),
            }
        )

    return [unified_standardised, unified_scores, unified_coalesced]
