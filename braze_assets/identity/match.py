"""Score candidate record pairs into `unified_scores`: Splink's probabilistic model, trained on
the data itself, plus deterministic rules (equal normalised email, phone, loyalty id ...).

Splink runs on the warehouse connection; its working tables are dropped afterwards so only
`unified_scores` and the trained model (`identity_model`) are left behind. The model is reused
until the configuration changes or the record count moves by `training.retrain_growth`: a
retrained model shifts scores near the threshold, which would move ids for no reason.
Fields empty in every source are left out of blocking rules, comparisons and training
automatically, which is what lets any dataset run on the defaults.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from braze_assets.identity.config import ComparisonConfig, IdentityConfig
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.warehouse import quote, table_columns, table_exists

TABLE = "unified_scores"
MODEL_TABLE = "identity_model"  # the trained Splink model, reused while data and config hold still
_INPUT_VIEW = "_identity_match_input"


@dataclass
class ScoreReport:
    pairs: int
    probabilistic_pairs: int
    deterministic_pairs: dict[str, int]
    shared_key_values: dict[str, int]
    categories: dict[str, int]
    comparisons: list[str]
    blocking_rules: list[str]
    skipped: list[str] = field(default_factory=list)
    probability_two_random_records_match: float | None = None
    model_reused: bool = False


def active_fields(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Columns of unified_standardised holding at least one value."""
    columns = [
        c for c in table_columns(con, STANDARDISED) if c not in ("record_id", "source", "source_pk")
    ]
    counts = con.execute(
        f"SELECT {', '.join(f'count({quote(c)})' for c in columns)} FROM {STANDARDISED}"
    ).fetchone()
    return {c for c, n in zip(columns, counts) if n}


def expand_keys(keys: list[str], columns: set[str]) -> list[str]:
    """'identifier:*' -> every identifier_<name> column; 'identifier:x' -> identifier_x."""
    out: list[str] = []
    for key in keys:
        if key == "identifier:*":
            out += sorted(c for c in columns if c.startswith("identifier_"))
        elif key.startswith("identifier:"):
            out.append("identifier_" + key.split(":", 1)[1])
        else:
            out.append(key)
    return list(dict.fromkeys(out))


def _comparison(spec: ComparisonConfig, active: set[str]):
    f = spec.field
    if spec.method == "name":
        levels = [cll.NullLevel(f), cll.ExactMatchLevel(f)]
        if spec.term_frequency:
            levels[1] = levels[1].configure(tf_adjustment_column=f)
        if f == "given_name" and "given_name_variants" in active:
            levels.append(
                cll.ArrayIntersectLevel("given_name_variants", 1).configure(
                    label_for_charts="Nickname of the same name"
                )
            )
        levels += [cll.JaroWinklerLevel(f, t) for t in (spec.thresholds or [0.92, 0.8])]
        levels.append(cll.ElseLevel())
        return cl.CustomComparison(levels, output_column_name=f)
    if spec.method == "address":
        return _address_comparison(spec, active)
    if spec.method == "email":
        # No user-name-only levels: a user name is mostly the person's name, already compared.
        exact = cll.ExactMatchLevel(f)
        levels = [
            cll.NullLevel(f),
            exact.configure(tf_adjustment_column=f) if spec.term_frequency else exact,
            cll.LevenshteinLevel(f, int(spec.thresholds[0]) if spec.thresholds else 2),
            cll.ElseLevel(),
        ]
        return cl.CustomComparison(levels, output_column_name=f)
    if spec.method == "date":
        return cl.DateOfBirthComparison(f, input_is_string=False)
    if spec.method == "exact":
        comparison = cl.ExactMatch(f)
    elif spec.method == "levenshtein":
        comparison = cl.LevenshteinAtThresholds(f, [int(t) for t in (spec.thresholds or [1, 2])])
    else:
        comparison = cl.JaroWinklerAtThresholds(f, spec.thresholds or [0.9, 0.7])
    return (
        comparison.configure(term_frequency_adjustments=True) if spec.term_frequency else comparison
    )


def _address_comparison(spec: ComparisonConfig, active: set[str]):
    """One comparison for the whole address: street, postal code and city say the same thing, so
    scoring them separately would count one shared household address several times over."""
    line = spec.field
    postal = "postal_code" if "postal_code" in active else None
    city = "city" if "city" in active else None
    known = [f for f in (line, postal, city) if f]
    null_sql = " AND ".join(f"({f}_l IS NULL OR {f}_r IS NULL)" for f in known)
    levels = [
        cll.CustomLevel(null_sql, label_for_charts="Address missing").configure(is_null_level=True)
    ]
    near = spec.thresholds[0] if spec.thresholds else 2
    if postal:
        levels += [
            cll.And(cll.ExactMatchLevel(line), cll.ExactMatchLevel(postal)),
            cll.And(cll.LevenshteinLevel(line, int(near)), cll.ExactMatchLevel(postal)),
        ]
    levels.append(cll.ExactMatchLevel(line))
    if postal:
        levels.append(cll.ExactMatchLevel(postal))
    if city:
        levels.append(cll.ExactMatchLevel(city))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="address")


def _usable(rule: list[str], active: set[str]) -> bool:
    return all(f in active for f in rule)


def _drop_splink_tables(con: duckdb.DuckDBPyConnection) -> None:
    # Splink's blocking analysis (used when EM samples pairs) registers this relation on the connection.
    if con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'result_df' AND temporary"
    ).fetchone()[0]:
        con.unregister("result_df")
    for name, kind in con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_name LIKE '__splink__%'"
    ).fetchall():
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {quote(name)}")


def _deterministic_pairs(
    con: duckdb.DuckDBPyConnection, keys: list[str], max_group: int, conflicts: list[str]
) -> dict[str, int]:
    """Table _identity_det(record_id_l, record_id_r, det_key): every pair sharing a key value."""
    shared: dict[str, int] = {}
    selects = []
    agree = "".join(f" AND NOT coalesce(a.{quote(f)} <> b.{quote(f)}, false)" for f in conflicts)
    for rank, key in enumerate(keys):
        col = quote(key)
        shared[key] = con.execute(
            f"SELECT count(*) FROM (SELECT {col} FROM {STANDARDISED} WHERE {col} IS NOT NULL "
            f"GROUP BY {col} HAVING count(*) > {max_group})"
        ).fetchone()[0]
        selects.append(
            f"SELECT a.record_id AS record_id_l, b.record_id AS record_id_r, {rank} AS rank, '{key}' AS det_key "
            f"FROM {STANDARDISED} a JOIN {STANDARDISED} b ON a.{col} = b.{col} AND a.record_id < b.record_id{agree} "
            f"WHERE a.{col} IN (SELECT {col} FROM {STANDARDISED} WHERE {col} IS NOT NULL "
            f"GROUP BY {col} HAVING count(*) <= {max_group})"
        )
    body = (
        " UNION ALL ".join(selects)
        if selects
        else "SELECT NULL::VARCHAR AS record_id_l, NULL::VARCHAR AS record_id_r, 0 AS rank, NULL::VARCHAR AS det_key WHERE false"
    )
    # A pair linked by several keys is explained by the first key in config order.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _identity_det AS SELECT record_id_l, record_id_r, arg_min(det_key, rank) AS det_key "
        f"FROM ({body}) GROUP BY ALL"
    )
    return shared


def _train(
    linker: Linker,
    identity: IdentityConfig,
    active: set[str],
    keys: list[str],
    records: int,
    skipped: list[str],
) -> None:
    training = identity.training
    if keys:
        linker.training.estimate_probability_two_random_records_match(
            [block_on(k) for k in keys], recall=training.prior_recall
        )
    # Chunked u sampling only pays off when the sample is a small part of all pairs.
    chunks = 10 if records * (records - 1) / 2 > training.u_max_pairs else 1
    linker.training.estimate_u_using_random_sampling(
        max_pairs=training.u_max_pairs, seed=training.seed, num_chunks=chunks
    )
    for rule in training.em_blocking_rules:
        if not _usable(rule, active):
            skipped.append(f"EM session on {'+'.join(rule)}")
            continue
        before = copy.deepcopy(linker._settings_obj.core_model_settings)
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), max_pairs=training.em_max_pairs
            )
        except ValueError as exc:
            # On small data a level can go unobserved and EM drives its m to 0, which Splink
            # rejects mid-session; the session is undone and the other sessions' estimates stand.
            linker._settings_obj.core_model_settings = before
            skipped.append(f"EM session on {'+'.join(rule)} failed: {exc}")


def _stored_model(
    con: duckdb.DuckDBPyConnection, fingerprint: str, records: int, growth: float
) -> dict | None:
    """The last trained model, if it was trained for this configuration on about this much data."""
    if growth <= 0 or not table_exists(con, MODEL_TABLE):
        return None
    row = con.execute(
        f"SELECT model_json, records FROM {MODEL_TABLE} WHERE fingerprint = ?", [fingerprint]
    ).fetchone()
    if row is None or abs(records - row[1]) > growth * max(row[1], 1):
        return None
    return json.loads(row[0])


def _save_model(
    con: duckdb.DuckDBPyConnection, linker: Linker, fingerprint: str, records: int
) -> None:
    model = json.dumps(linker.misc.save_model_to_json())
    con.execute(
        f"CREATE OR REPLACE TABLE {MODEL_TABLE} AS SELECT ? AS fingerprint, ? AS records, "
        "current_timestamp AS trained_at, ? AS model_json",
        [fingerprint, records, model],
    )


def _train_and_predict(
    con, identity: IdentityConfig, active: set[str], keys: list[str], report: dict
):
    skipped = report["skipped"]
    comparisons = [c for c in identity.comparisons if c.field in active]
    skipped += [
        f"comparison on {c.field} (empty in every source)"
        for c in identity.comparisons
        if c.field not in active
    ]
    rules = [r for r in identity.blocking_rules if _usable(r, active)]
    skipped += [
        f"blocking rule {'+'.join(r)}" for r in identity.blocking_rules if not _usable(r, active)
    ]
    if not comparisons or not rules:
        return None, [], []
    companions = (
        {"postal_code", "city"} & active
        if any(c.method == "address" for c in comparisons)
        else set()
    )
    em_fields = {f for r in identity.training.em_blocking_rules for f in r if f in active}
    fields = (
        {c.field for c in comparisons}
        | companions
        | {f for r in rules for f in r}
        | em_fields
        | set(keys)
    )
    if "given_name" in fields and "given_name_variants" in active:
        fields.add("given_name_variants")
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_INPUT_VIEW} AS SELECT record_id, {', '.join(quote(f) for f in sorted(fields))} FROM {STANDARDISED}"
    )
    records = con.execute(f"SELECT count(*) FROM {STANDARDISED}").fetchone()[0]
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "comparisons": [c.model_dump() for c in comparisons],
                "rules": rules,
                "keys": keys,
                "fields": sorted(fields),
                "training": identity.training.model_dump(exclude={"retrain_growth"}),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    stored = _stored_model(con, fingerprint, records, identity.training.retrain_growth)
    settings = stored or SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[_comparison(c, active) for c in comparisons],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(DuckDBAPI(con).register(_INPUT_VIEW), settings, log_level=logging.ERROR)
    report["model_reused"] = stored is not None
    if stored is None:
        _train(linker, identity, active, keys, records, skipped)
        _save_model(con, linker, fingerprint, records)
    predictions = linker.inference.predict(threshold_match_probability=identity.categories.weak)
    names = ["address" if c.method == "address" else c.field for c in comparisons]
    return (linker, predictions), names, ["+".join(r) for r in rules]


def score_pairs(con: duckdb.DuckDBPyConnection, identity: IdentityConfig) -> ScoreReport:
    if not table_exists(con, STANDARDISED):
        raise ValueError(f"{STANDARDISED} is missing; run standardise first")
    active = active_fields(con)
    keys = [k for k in expand_keys(identity.deterministic_keys, active) if k in active]
    conflicts = [f for f in identity.deterministic_conflicts if f in active]
    shared = _deterministic_pairs(con, keys, identity.deterministic_max_group, conflicts)
    skipped: list[str] = []
    state = {"skipped": skipped, "model_reused": False}
    prior = None
    try:
        trained, comparison_names, rule_names = _train_and_predict(
            con, identity, active, keys, state
        )
        gammas: list[str] = []
        if trained:
            linker, predictions = trained
            prior = linker._settings_obj._probability_two_random_records_match
            # A comparison whose m values could not be trained is left out of predict by Splink.
            predicted_columns = set(table_columns(con, predictions.physical_name))
            gammas = [f"gamma_{n}" for n in comparison_names if f"gamma_{n}" in predicted_columns]
            skipped += [
                f"comparison on {n} (untrained)"
                for n in comparison_names
                if f"gamma_{n}" not in predicted_columns
            ]
            columns = ", ".join(
                ["record_id_l", "record_id_r", "match_probability", "match_weight", *gammas]
            )
            predicted = f"SELECT {columns} FROM {predictions.physical_name}"
        else:
            predicted = "SELECT NULL::VARCHAR AS record_id_l, NULL::VARCHAR AS record_id_r, NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight WHERE false"
        _write_scores(con, identity, predicted, gammas)
    finally:
        _drop_splink_tables(con)
        con.execute(f"DROP VIEW IF EXISTS {_INPUT_VIEW}")
    con.execute("DROP TABLE IF EXISTS _identity_det")
    summary = con.execute(
        f"SELECT count(*), count_if(match_type = 'probabilistic') FROM {TABLE}"
    ).fetchone()
    by_key = dict(
        con.execute(
            f"SELECT match_type, count(*) FROM {TABLE} WHERE match_type <> 'probabilistic' GROUP BY ALL"
        ).fetchall()
    )
    categories = dict(
        con.execute(f"SELECT match_category, count(*) FROM {TABLE} GROUP BY ALL").fetchall()
    )
    return ScoreReport(
        pairs=summary[0],
        probabilistic_pairs=summary[1],
        deterministic_pairs=by_key,
        shared_key_values={k: v for k, v in shared.items() if v},
        categories=categories,
        comparisons=comparison_names,
        blocking_rules=rule_names,
        skipped=skipped,
        probability_two_random_records_match=prior,
        model_reused=state["model_reused"],
    )


def _write_scores(
    con: duckdb.DuckDBPyConnection, identity: IdentityConfig, predicted: str, gammas: list[str]
) -> None:
    c = identity.categories
    separation = [k for k in identity.separation_keys if k in table_columns(con, STANDARDISED)]
    conflict = " OR ".join(f"(a.{quote(k)} <> b.{quote(k)})" for k in separation) or "false"
    gamma_select = "".join(f", p.{g}" for g in gammas)
    con.execute(f"""
        CREATE OR REPLACE TABLE {TABLE} AS
        WITH p AS ({predicted}),
        pairs AS (
            SELECT coalesce(p.record_id_l, d.record_id_l) AS record_id_l, coalesce(p.record_id_r, d.record_id_r) AS record_id_r,
                   d.det_key, p.match_probability AS model_probability, p.match_weight{gamma_select}
            FROM p FULL OUTER JOIN _identity_det d ON p.record_id_l = d.record_id_l AND p.record_id_r = d.record_id_r
        )
        SELECT pairs.record_id_l, pairs.record_id_r,
               CASE WHEN det_key IS NOT NULL THEN 1.0 ELSE model_probability END AS match_probability,
               match_weight, model_probability,
               CASE WHEN det_key IS NOT NULL THEN 'exact'
                    WHEN model_probability >= {c.excellent} THEN 'excellent'
                    WHEN model_probability >= {c.high} THEN 'high'
                    WHEN model_probability >= {c.moderate} THEN 'moderate' ELSE 'weak' END AS match_category,
               CASE WHEN det_key IS NOT NULL THEN 'deterministic:' || det_key ELSE 'probabilistic' END AS match_type,
               coalesce({conflict}, false) AS separation_conflict{"".join(f", pairs.{g}" for g in gammas)}
        FROM pairs
        JOIN {STANDARDISED} a ON a.record_id = pairs.record_id_l
        JOIN {STANDARDISED} b ON b.record_id = pairs.record_id_r
        ORDER BY pairs.record_id_l, pairs.record_id_r
    """)
