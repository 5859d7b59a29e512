"""Score candidate record pairs into `unified_scores`: Splink's probabilistic model, trained on
the data itself, plus deterministic rules (equal normalised email, phone, loyalty id ...).

Written once against the Engine interface (braze_assets/engine): Splink runs on the engine's
session (DuckDBAPI on DuckDB, SparkAPI on Spark) with the same comparisons, training and
thresholds, and the deterministic rules and person-evidence SQL are DuckDB dialect that the Spark
engine transpiles. Splink's working tables are dropped afterwards so only `unified_scores` and the
trained model (`identity_model`) are left behind. The model is reused
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
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.internals.exceptions import EMTrainingException

from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.identity.config import ComparisonConfig, IdentityConfig
from braze_assets.identity.profile import (
    STREET_NUMBER_SQL,
    TownLevels,
    choose_blocking,
    choose_comparisons,
    choose_em_rules,
    profile_fields,
    town_levels,
    weight_beyond_names_sql,
)
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.identity.standardise import IdentityInputError
from braze_assets.warehouse import quote

TABLE = "unified_scores"
MODEL_TABLE = "identity_model"
DECISION_TABLE = "identity_threshold"  # the threshold clustering applies, and why
FALLBACK_THRESHOLD = 0.99  # the trained Splink model, reused while data and config hold still
_INPUT_VIEW = "_identity_match_input"
# Below this, EM sees too few pairs to estimate anything: better to stop with a clear message.
MIN_TRAINING_RECORDS = 30


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
    match_threshold: float | None = None
    threshold_grid: list[dict] = field(default_factory=list)
    threshold_chosen: bool = False
    profile: dict[str, dict] = field(default_factory=dict)
    blocking_estimates: list[dict] = field(default_factory=list)
    em_rules: list[str] = field(default_factory=list)
    # EM session -> the levels whose m (or u) was held at Splink's 1e-300 floor (_em_floor).
    em_floored: dict[str, list[str]] = field(default_factory=dict)
    weights: list[dict] = field(default_factory=list)
    # Pairs without given-name / birthdate / identifier agreement: how far they are trusted.
    person_evidence: dict = field(default_factory=dict)
    # Pairs sharing one name and one town and differing on every stronger field: how far trusted.
    namesakes: dict = field(default_factory=dict)
    # Pairs holding two values of a separation key (two accounts), and those linked anyway.
    separation_conflicts: int = 0
    separation_overrides: int = 0
    # Wall seconds per step (plan, train, predict, ...): where a run's time goes.
    stage_seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(state: dict, step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = state.setdefault("seconds", {})
        seconds[step] = round(seconds.get(step, 0.0) + time.perf_counter() - start, 3)


@contextmanager
def _em_floor(floored: list[str]) -> Iterator[None]:
    """EM's m estimates held at Splink's floor (1e-300) instead of failing the session.

    A level that the session's matches show ever less has its m shrink by a factor each
    iteration; Splink rejects a value under 1e-300 and the whole session is lost, with what it
    learnt of every other comparison. Whether it crosses depends on the iteration count, so on
    the last bits of the iterations' sums: at 1M records one session crossed on Spark only and
    the engines' models parted; at 4M it failed on both. At the floor the level's weight is what
    EM says it is (about -1000: never a match in this session; the model takes each level's
    median over the sessions), and the session converges as before. Splink offers no setting for
    this, so its M step's output is clamped for the block's length (the module global it calls;
    Splink is pinned in the lock). Only m: our sessions keep u fixed (Splink's default), and
    Splink ignores the u the M step computes. `floored` gets 'comparison level n' per level."""
    from splink.internals import expectation_maximisation as em
    from splink.internals.comparison_level import M_U_CLAMP_MIN

    original = em.compute_proportions_for_new_parameters

    def clamped(df_params):
        records = original(df_params)
        for record in records:
            if record["output_column_name"] == "_probability_two_random_records_match":
                continue
            value = record["m_probability"]
            if value is None:
                continue
            if math.isnan(value):
                # No weight left under the matches at all (0/0): the session collapsed, and
                # fails as Splink would fail it one step later.
                raise ValueError(
                    f"m_probability of {record['output_column_name']} is not a number: "
                    "EM found no matches under this session's rule"
                )
            if value < M_U_CLAMP_MIN:
                record["m_probability"] = M_U_CLAMP_MIN
                level = f"{record['output_column_name']} level {record['comparison_vector_value']}"
                if level not in floored:
                    floored.append(level)
        return records

    em.compute_proportions_for_new_parameters = clamped
    try:
        yield
    finally:
        em.compute_proportions_for_new_parameters = original


def active_fields(con: Engine) -> set[str]:
    """Columns of unified_standardised holding at least one value."""
    columns = [
        c for c in con.columns(STANDARDISED) if c not in ("record_id", "source", "source_pk")
    ]
    counts = con.fetch(
        f"SELECT {', '.join(f'count({quote(c)})' for c in columns)} FROM {STANDARDISED}"
    )[0]
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


# A custom comparison level's SQL, written in DuckDB's dialect, in the dialect Splink runs on
# (Engine.splink_sql): the identity on DuckDB.
Dialect = Callable[[str], str]


def _same(sql: str) -> str:
    return sql


def _comparison(spec: ComparisonConfig, active: set[str], dialect: Dialect = _same):
    f = spec.field
    if spec.method == "name":
        levels = [cll.NullLevel(f), cll.ExactMatchLevel(f)]
        if spec.term_frequency:
            levels[1] = levels[1].configure(tf_adjustment_column=f)
        if f == "given_name" and "given_name_variants" in active:
            levels.append(
                # list_has_any: the same test as ArrayIntersectLevel(.., 1) without building
                # the intersection, which every non-matching pair of predict and u sampling pays.
                cll.CustomLevel(
                    dialect("list_has_any(given_name_variants_l, given_name_variants_r)"),
                    label_for_charts="Nickname of the same name",
                )
            )
        thresholds = spec.thresholds or [0.92, 0.8]
        levels.append(cll.JaroWinklerLevel(f, thresholds[0]))
        if f in ("given_name", "surname") and {"given_name", "surname"} <= active:
            # Given name and surname keyed the wrong way round in one record: both cross pairs
            # agree. Without this level the pair scores as two different names twice over.
            levels.append(
                cll.CustomLevel(
                    dialect(
                        "jaro_winkler_similarity(given_name_l, surname_r) >= 0.85 AND "
                        "jaro_winkler_similarity(surname_l, given_name_r) >= 0.85"
                    ),
                    label_for_charts="Given name and surname swapped",
                )
            )
        levels += [cll.JaroWinklerLevel(f, t) for t in thresholds[1:2]]
        if f == "given_name" and "surname" in active:
            # One name keyed into the other's field and the other name lost or replaced.
            levels.append(
                cll.CustomLevel(
                    dialect("given_name_l = surname_r OR surname_l = given_name_r"),
                    label_for_charts="One record's given name is the other's surname",
                )
            )
        levels += [cll.JaroWinklerLevel(f, t) for t in thresholds[2:]]
        levels.append(cll.ElseLevel())
        return cl.CustomComparison(levels, output_column_name=f)
    if spec.method == "address":
        return _address_comparison(spec, active, dialect)
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
    if spec.method == "date_typos":
        return _date_typos_comparison(f, dialect)
    if spec.method == "identifier":
        return cl.CustomComparison(
            [
                cll.NullLevel(f),
                cll.ExactMatchLevel(f),
                cll.DamerauLevenshteinLevel(f, 1),
                cll.DamerauLevenshteinLevel(f, 2),
                cll.ElseLevel(),
            ],
            output_column_name=f,
        )
    if spec.method == "location":
        return _location_comparison(spec, active, dialect)
    if spec.method == "exact":
        comparison = cl.ExactMatch(f)
    elif spec.method == "levenshtein":
        comparison = cl.LevenshteinAtThresholds(f, [int(t) for t in (spec.thresholds or [1, 2])])
    else:
        comparison = cl.JaroWinklerAtThresholds(f, spec.thresholds or [0.9, 0.7])
    return (
        comparison.configure(term_frequency_adjustments=True) if spec.term_frequency else comparison
    )


def _address_comparison(spec: ComparisonConfig, active: set[str], dialect: Dialect = _same):
    """One comparison for the whole address: street, postal code and city say the same thing, so
    scoring them separately would count one shared household address several times over."""
    line = spec.field
    postal = "postal_code" if "postal_code" in active else None
    city = "city" if "city" in active else None
    known = [f for f in (line, postal, city) if f]
    null_sql = " AND ".join(f"({f}_l IS NULL OR {f}_r IS NULL)" for f in known)
    levels = [
        cll.CustomLevel(dialect(null_sql), label_for_charts="Address missing").configure(
            is_null_level=True
        )
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


def _date_typos_comparison(f: str, dialect: Dialect = _same):
    """Dates keyed by hand: one mistyped digit, day and month swapped (US vs day-first forms)."""
    digits = "strftime({col}, '%Y%m%d')"
    left, right = digits.format(col=f"{f}_l"), digits.format(col=f"{f}_r")
    return cl.CustomComparison(
        [
            cll.NullLevel(f),
            cll.ExactMatchLevel(f),
            cll.CustomLevel(
                dialect(f"damerau_levenshtein({left}, {right}) <= 1"),
                label_for_charts="One-digit typo",
            ),
            cll.CustomLevel(
                dialect(
                    f"year({f}_l) = year({f}_r) AND month({f}_l) = day({f}_r) "
                    f"AND day({f}_l) = month({f}_r)"
                ),
                label_for_charts="Day and month swapped",
            ),
            cll.CustomLevel(
                dialect(f"damerau_levenshtein({left}, {right}) <= 2"),
                label_for_charts="Two-digit typo",
            ),
            cll.ElseLevel(),
        ],
        output_column_name=f,
    )


def _location_comparison(spec: ComparisonConfig, active: set[str], dialect: Dialect = _same):
    """Street line, street number, postal code and city as one comparison (a shared household
    address is one piece of evidence), with levels for a typo in the street or the postal code."""
    line = "address_line1" if "address_line1" in active else None
    postal = "postal_code" if "postal_code" in active else None
    city = "city" if "city" in active else None
    number = "street_number" if line else None
    known = [f for f in (line, postal, city) if f]
    null_sql = " AND ".join(f"({f}_l IS NULL OR {f}_r IS NULL)" for f in known)
    levels = [
        cll.CustomLevel(dialect(null_sql), label_for_charts="Address missing").configure(
            is_null_level=True
        )
    ]
    # The cheap equality goes first in each AND so the edit distances run on few pairs.
    if line and postal:
        levels += [
            cll.And(cll.ExactMatchLevel(postal), cll.ExactMatchLevel(line)),
            cll.And(cll.ExactMatchLevel(postal), cll.LevenshteinLevel(line, 2)),
            cll.And(cll.ExactMatchLevel(postal), cll.ExactMatchLevel(number)),
            cll.And(cll.ExactMatchLevel(number), cll.DamerauLevenshteinLevel(postal, 1)),
            cll.And(cll.DamerauLevenshteinLevel(postal, 1), cll.LevenshteinLevel(line, 2)),
        ]
    if line:
        levels.append(cll.ExactMatchLevel(line))
    if postal:
        levels += [cll.ExactMatchLevel(postal), cll.DamerauLevenshteinLevel(postal, 1)]
    if city:
        levels.append(cll.ExactMatchLevel(city))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="address")


def _usable(rule: list[str], active: set[str]) -> bool:
    return all(f in active for f in rule)


def _deterministic_pairs(
    con: Engine, keys: list[str], max_group: int, conflicts: list[str]
) -> dict[str, int]:
    """Table _identity_det(record_id_l, record_id_r, det_key, withheld): every pair sharing a key
    value. `withheld` marks a pair whose link is left to the model because a conflict field
    differs (two given names on one email: a family mailbox, or a mistyped name)."""
    selects = []
    withheld = " OR ".join(f"coalesce(a.{quote(f)} <> b.{quote(f)}, false)" for f in conflicts)
    # Values shared by more than max_group records, per key, in one query (one Spark job).
    counts = " UNION ALL ".join(
        f"SELECT {rank} AS rank, count(*) FROM (SELECT {quote(key)} FROM {STANDARDISED} "
        f"WHERE {quote(key)} IS NOT NULL GROUP BY {quote(key)} HAVING count(*) > {max_group})"
        for rank, key in enumerate(keys)
    )
    shared = {keys[rank]: n for rank, n in sorted(con.fetch(counts))} if keys else {}
    for rank, key in enumerate(keys):
        col = quote(key)
        selects.append(
            f"SELECT a.record_id AS record_id_l, b.record_id AS record_id_r, {rank} AS rank, '{key}' AS det_key, "
            f"{withheld or 'false'} AS withheld "
            f"FROM {STANDARDISED} a JOIN {STANDARDISED} b ON a.{col} = b.{col} AND a.record_id < b.record_id "
            f"WHERE a.{col} IN (SELECT {col} FROM {STANDARDISED} WHERE {col} IS NOT NULL "
            f"GROUP BY {col} HAVING count(*) <= {max_group})"
        )
    body = (
        " UNION ALL ".join(selects)
        if selects
        else "SELECT NULL::VARCHAR AS record_id_l, NULL::VARCHAR AS record_id_r, 0 AS rank, NULL::VARCHAR AS det_key, false AS withheld WHERE false"
    )
    # A pair linked by several keys is explained by the first key in config order. `withheld`
    # depends on the pair alone, so every key of a pair agrees on it.
    con.create_temp(
        "_identity_det",
        f"SELECT record_id_l, record_id_r, arg_min(det_key, rank) AS det_key, withheld "
        f"FROM ({body}) GROUP BY record_id_l, record_id_r, withheld",
    )
    return shared


@dataclass
class _Plan:
    """What the model is built from: the identity section, or choices made from the data's profile."""

    comparisons: list[ComparisonConfig]
    rules: list[list[str]]
    em_rules: list[list[str]]
    prior_rules: list[list[str]]
    profile: dict[str, dict] = field(default_factory=dict)
    blocking_estimates: list[dict] = field(default_factory=list)


# Deterministic rules used only to estimate the match prior (never to link): they hold for
# most true matches and almost no others. Kept when every field is filled in the data.
_PRIOR_RULES = (
    ["given_name", "surname", "birthdate"],
    ["given_name", "surname", "postal_code"],
    ["surname", "birthdate", "postal_code"],
)


def _plan(
    con: Engine,
    identity: IdentityConfig,
    active: set[str],
    keys: list[str],
    records: int,
    skipped: list[str],
) -> _Plan:
    fields = sorted(
        f
        for f in active
        if f not in ("given_name_display", "surname_display", "email_display")
        and f not in ("given_name_variants", "given_name_canonical", "updated_at", "priority")
        and f != "source_row"
    )
    if "address_line1" in active:
        fields.append("street_number")
    profiles = profile_fields(con, fields, records)
    if identity.comparisons is None:
        comparisons, notes = choose_comparisons(profiles, active)
        skipped += notes
    else:
        comparisons = [c for c in identity.comparisons if c.field in active]
        skipped += [
            f"comparison on {c.field} (empty in every source)"
            for c in identity.comparisons
            if c.field not in active
        ]
    estimates: list[dict] = []
    if identity.blocking_rules is None:
        rules, found = choose_blocking(con, active, records)
        estimates = [
            {
                "rule": "+".join(e.rule),
                "comparisons": e.comparisons,
                "kept": e.kept,
                "why": e.reason,
            }
            for e in found
        ]
    else:
        rules = [r for r in identity.blocking_rules if _usable(r, active)]
        skipped += [
            f"blocking rule {'+'.join(r)}"
            for r in identity.blocking_rules
            if not _usable(r, active)
        ]
    em_rules = (
        choose_em_rules(profiles, active)
        if identity.training.em_blocking_rules is None
        else identity.training.em_blocking_rules
    )
    prior_rules = [[k] for k in keys] + [list(r) for r in _PRIOR_RULES if _usable(r, active)]
    return _Plan(
        comparisons,
        rules,
        em_rules,
        prior_rules,
        {f: p.as_dict() for f, p in profiles.items()},
        estimates,
    )


def _train(
    linker: Linker,
    identity: IdentityConfig,
    plan: _Plan,
    active: set[str],
    records: int,
    skipped: list[str],
    state: dict,
) -> None:
    training = identity.training
    if plan.prior_rules:
        try:
            linker.training.estimate_probability_two_random_records_match(
                [block_on(*r) for r in plan.prior_rules], recall=training.prior_recall
            )
        except (ValueError, ZeroDivisionError) as exc:
            skipped.append(f"prior from deterministic rules: {exc}")
    prior = linker._settings_obj._probability_two_random_records_match
    if not prior or prior <= 0 or prior >= 1:
        # No rule found a pair: start from one duplicate per record and let predict re-estimate.
        linker._settings_obj._probability_two_random_records_match = 1 / max(records, 2)
    # Chunked u sampling only pays off when the sample is a small part of all pairs.
    chunks = 10 if records * (records - 1) / 2 > training.u_max_pairs else 1
    with _timed(state, "train_u"):
        linker.training.estimate_u_using_random_sampling(
            max_pairs=training.u_max_pairs, seed=training.seed, num_chunks=chunks
        )
    trained = 0
    for rule in plan.em_rules:
        if not _usable(rule, active):
            skipped.append(f"EM session on {'+'.join(rule)}")
            continue
        before = copy.deepcopy(linker._settings_obj.core_model_settings)
        floored: list[str] = []
        try:
            with _timed(state, f"train_em_{'+'.join(rule)}"), _em_floor(floored):
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*rule),
                    max_pairs=training.em_max_pairs,
                    estimate_without_term_frequencies=True,
                )
            trained += 1
            if floored:
                state.setdefault("em_floored", {})["+".join(rule)] = floored
        except (ValueError, ZeroDivisionError, EMTrainingException) as exc:
            # A session can still fail (no pairs under its rule, a comparison with no m left to
            # share out); it is undone and the other sessions' estimates stand.
            linker._settings_obj.core_model_settings = before
            skipped.append(f"EM session on {'+'.join(rule)} failed: {str(exc).splitlines()[0]}")
    if plan.em_rules and not trained:
        raise IdentityInputError(
            f"identity resolution could not train its model on {records} records: every EM session "
            f"failed ({'; '.join(s for s in skipped if s.startswith('EM session'))}). "
            "Add more records, or set identity.em_blocking_rules to fields that repeat in the data."
        )


def _stored_model(con: Engine, fingerprint: str, records: int, growth: float) -> dict | None:
    """The last trained model, if it was trained for this configuration on about this much data."""
    if growth <= 0 or not con.table_exists(MODEL_TABLE):
        return None
    rows = con.fetch(
        f"SELECT model_json, records FROM {MODEL_TABLE} WHERE fingerprint = ?", [fingerprint]
    )
    row = rows[0] if rows else None
    if row is None or abs(records - row[1]) > growth * max(row[1], 1):
        return None
    return json.loads(row[0])


def _save_model(con: Engine, linker: Linker, fingerprint: str, records: int) -> None:
    model = json.dumps(linker.misc.save_model_to_json())
    con.write_arrow(
        MODEL_TABLE,
        pa.table(
            {
                "fingerprint": [fingerprint],
                "records": pa.array([records], pa.int64()),
                "trained_at": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
                "model_json": [model],
            }
        ),
    )


def _monotone(model: dict) -> dict:
    """A near agreement is never stronger evidence against a match than full disagreement.

    EM drives m towards 0 for a level the training pairs rarely show (a postcode typo in data
    without any), which would make one typo veto a match outright. Such a level is lifted to the
    weight of its comparison's 'all other' level."""
    for comparison in model.get("comparisons", []):
        levels = [
            lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")
        ]
        if not levels:
            continue
        last = levels[-1]
        m_else, u_else = last.get("m_probability"), last.get("u_probability")
        if not m_else or not u_else:
            continue
        floor = m_else / u_else
        for level in levels[:-1]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is not None and u and m / u < floor:
                level["m_probability"] = min(u * floor, 1.0)
    return model


def model_weights(model: dict) -> list[dict]:
    """Match weight of every comparison level of a saved Splink model (what the UI shows)."""
    rows = []
    for comparison in model.get("comparisons", []):
        name = comparison.get("output_column_name")
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison": name,
                    "level": level.get("label_for_charts") or level.get("sql_condition"),
                    "m": m,
                    "u": u,
                    "match_weight": weight,
                }
            )
    return rows


def _train_and_predict(
    con, identity: IdentityConfig, active: set[str], keys: list[str], report: dict
):
    skipped = report["skipped"]
    records = con.fetch(f"SELECT count(*) FROM {STANDARDISED}")[0][0]
    with _timed(report, "plan"):
        plan = _plan(con, identity, active, keys, records, skipped)
    report["plan"] = plan
    comparisons, rules = plan.comparisons, plan.rules
    if not comparisons or not rules:
        return None, [], []
    companions = (
        {"postal_code", "city"} & active
        if any(c.method in ("address", "location") for c in comparisons)
        else set()
    )
    em_fields = {f for r in plan.em_rules for f in r if f in active}
    fields = (
        {c.field for c in comparisons}
        | companions
        | {f for r in rules for f in r}
        | em_fields
        | {f for r in plan.prior_rules for f in r}
        | set(keys)
    )
    if any(c.method == "name" for c in comparisons) and {"given_name", "surname"} <= active:
        fields |= {"given_name", "surname"}  # the swapped-names level reads both
    if "given_name" in fields and "given_name_variants" in active:
        fields.add("given_name_variants")
    derived = ""
    if "street_number" in fields or any(c.method == "location" for c in comparisons):
        fields.discard("street_number")
        fields.add("address_line1")
        derived = f", {STREET_NUMBER_SQL} AS street_number"
    con.create_temp_view(
        _INPUT_VIEW,
        f"SELECT record_id, {', '.join(quote(f) for f in sorted(fields))}{derived} "
        f"FROM {STANDARDISED}",
    )
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "comparisons": [c.model_dump() for c in comparisons],
                "rules": rules,
                "keys": keys,
                "fields": sorted(fields),
                "em": plan.em_rules,
                "prior": plan.prior_rules,
                "training": identity.training.model_dump(exclude={"retrain_growth"}),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    stored = _stored_model(con, fingerprint, records, identity.training.retrain_growth)
    settings = stored or SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[_comparison(c, active, con.splink_sql) for c in comparisons],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
        # Predict keeps the gammas without the values (_gammas_without_values).
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )
    if stored is None and records < MIN_TRAINING_RECORDS:
        per_source = ", ".join(
            f"{name!r}: {n}"
            for name, n in con.fetch(
                f"SELECT source, count(*) FROM {STANDARDISED} GROUP BY source ORDER BY source"
            )
        )
        raise IdentityInputError(
            f"too few records to train the matching model: {records} in all ({per_source}); "
            f"at least {MIN_TRAINING_RECORDS} are needed. Add records to the sources."
        )
    linker = Linker(con.splink_api().register(_INPUT_VIEW), settings, log_level=logging.ERROR)
    report["model_reused"] = stored is not None
    reestimate = stored is None and identity.comparisons is None
    if stored is None:
        with _timed(report, "train"):
            _train(linker, identity, plan, active, records, skipped, report)
        if reestimate:
            model = _monotone(linker.misc.save_model_to_json())
            linker = Linker(con.splink_api().register(_INPUT_VIEW), model, log_level=logging.ERROR)
    with _timed(report, "predict"), _gammas_without_values(linker):
        if identity.match_threshold is not None and not reestimate:
            predictions = linker.inference.predict(
                threshold_match_probability=identity.categories.weak
            )
        else:
            # The whole score distribution: the prior and the threshold are read from it.
            predictions = linker.inference.predict(threshold_match_weight=_DIAGNOSTIC_FLOOR_WEIGHT)
    shift = 0.0
    if reestimate:
        with _timed(report, "prior_reestimate"):
            shift = _reestimate_prior(con, linker, predictions.physical_name, records)
    if stored is None:
        _save_model(con, linker, fingerprint, records)
    report["model"] = stored or linker.misc.save_model_to_json()
    # Scores under the re-estimated prior: every pair's weight moves by the change of prior odds.
    replaced = {
        "match_weight": f"match_weight + {shift!r} AS match_weight",
        "match_probability": f"1 / (1 + pow(2, -(match_weight + {shift!r}))) AS match_probability",
    }
    con.create_temp_view(
        _PREDICTED_VIEW,
        f"SELECT {', '.join(replaced.get(c, quote(c)) for c in con.columns(predictions.physical_name))} "
        f"FROM {predictions.physical_name}",
    )
    names = ["address" if c.method in ("address", "location") else c.field for c in comparisons]
    return (linker, _PREDICTED_VIEW), names, ["+".join(r) for r in rules]


@contextmanager
def _gammas_without_values(linker: Linker) -> Iterator[None]:
    """Predict keeping the gamma columns (read by the person-evidence rule, the separation
    override and unified_scores) without copies of every compared value for every blocked pair.
    Splink couples the two (`retain_matching_columns`); copying the values was about a quarter
    of predict's time at a million records. Only the column list of predict's last step changes:
    its training mode keeps the gammas alone. Splink offers no option for this, so its static
    method is swapped for the call and put back after it (each Dagster step is its own process)."""
    from splink.internals.settings import Settings

    original = Settings.__dict__["columns_to_select_for_predict"]  # the staticmethod object
    select = original.__func__

    def with_gammas(**kwargs):
        return select(**{**kwargs, "training_mode": True})

    settings = linker._settings_obj
    retain = settings._retain_matching_columns
    settings._retain_matching_columns = False
    Settings.columns_to_select_for_predict = staticmethod(with_gammas)
    try:
        yield
    finally:
        Settings.columns_to_select_for_predict = original
        settings._retain_matching_columns = retain


# Pairs below this match weight (under the rules-based prior) carry no measurable probability;
# predict keeps the rest so the prior and the threshold are read from the whole distribution.
_DIAGNOSTIC_FLOOR_WEIGHT = -20.0
_PREDICTED_VIEW = "_identity_predicted"


def _reestimate_prior(con: Engine, linker: Linker, predictions: str, records: int) -> float:
    """The prior is the expected share of matching pairs: with m and u trained, iterate
    lambda = sum(posterior) / all pairs over the blocked pairs until it settles. This replaces the
    guessed recall of the deterministic rules, which under-counted matches on noisy data.
    Returns the change of prior weight (log2 odds) to add to every pair's match weight."""
    import numpy as np

    settings = linker._settings_obj
    prior = settings._probability_two_random_records_match
    prior_weight = math.log2(prior / (1 - prior))
    weights, counts = con.distribution(f"SELECT match_weight FROM {predictions}")
    if len(weights) == 0:
        return 0.0
    bayes = np.exp2(np.clip(weights - prior_weight, -60, 60))
    total = records * (records - 1) / 2
    lam = prior
    for _ in range(200):
        posterior = lam * bayes / (lam * bayes + 1 - lam)
        new = min(max((posterior * counts).sum() / total, 1e-9), 0.5)
        if abs(new - lam) <= 1e-6 * lam:
            lam = new
            break
        lam = new
    settings._probability_two_random_records_match = float(lam)
    return math.log2(lam / (1 - lam)) - prior_weight


_THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def choose_threshold(probabilities, counts=None) -> tuple[float, list[dict]]:
    """The threshold with the best expected F0.5 by the model's own posteriors.

    A pair of probability p is a match with chance p, so above t the expected true links are
    sum(p) and the expected false ones sum(1 - p); below t the expected missed links are sum(p).
    Precision weighs twice recall (F0.5) because clustering joins components: one false link
    merges two whole customers, while a missed link inside a customer is often bridged by the
    others. Ties go to the higher threshold. `counts` says how many pairs hold each
    probability (one each when not given)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    n = np.ones_like(p) if counts is None else np.asarray(counts, dtype=float)
    rows = []
    for t in _THRESHOLD_GRID:
        above = p >= t
        tp = (p[above] * n[above]).sum()
        fp = ((1 - p[above]) * n[above]).sum()
        fn = (p[~above] * n[~above]).sum()
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        f_half = (
            1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0
        )
        rows.append(
            {
                "threshold": t,
                "pairs_above": int(n[above].sum()),
                "expected_precision": round(float(precision), 5),
                "expected_recall": round(float(recall), 5),
                "expected_f1": round(float(f1), 5),
                "expected_f0_5": round(float(f_half), 5),
            }
        )
    best = max(rows, key=lambda r: (round(r["expected_f0_5"], 4), r["threshold"]))
    return best["threshold"], rows


def score_pairs(con, identity: IdentityConfig) -> ScoreReport:
    """Build unified_scores on an Engine (a DuckDB connection is wrapped as one)."""
    con = as_engine(con)
    if not con.table_exists(STANDARDISED):
        raise ValueError(f"{STANDARDISED} is missing; run standardise first")
    active = active_fields(con)
    keys = [k for k in expand_keys(identity.deterministic_keys, active) if k in active]
    conflicts = [f for f in identity.deterministic_conflicts if f in active]
    skipped: list[str] = []
    state: dict = {"skipped": skipped, "model_reused": False}
    with _timed(state, "deterministic"):
        shared = _deterministic_pairs(con, keys, identity.deterministic_max_group, conflicts)
    prior = None
    threshold = identity.match_threshold
    grid: list[dict] = []
    try:
        trained, comparison_names, rule_names = _train_and_predict(
            con, identity, active, keys, state
        )
        gammas: list[str] = []
        if trained:
            linker, predictions = trained
            prior = linker._settings_obj._probability_two_random_records_match
            # A comparison whose m values could not be trained is left out of predict by Splink.
            predicted_columns = set(con.columns(predictions))
            gammas = [f"gamma_{n}" for n in comparison_names if f"gamma_{n}" in predicted_columns]
            skipped += [
                f"comparison on {n} (untrained)"
                for n in comparison_names
                if f"gamma_{n}" not in predicted_columns
            ]
            with _timed(state, "person_evidence"):
                found = person_evidence(
                    con,
                    predictions,
                    state["model"],
                    expand_keys(identity.person_evidence, set(comparison_names)),
                    gammas,
                )
            evidence = found.sql if found else "true"
            observed = f"({found.observed_sql})" if found else "false"
            cap = found.cap if found else 1.0
            disagree_cap = found.disagree_cap if found else 1.0
            state["person_evidence"] = found.as_dict() if found else {}
            # The model's town levels, read once: the namesake rule and two accounts' test below.
            beyond_town = town_levels(state["model"], gammas)
            with _timed(state, "namesakes"):
                town = namesakes(con, predictions, beyond_town)
            state["namesakes"] = town.as_dict() if town else {}
            namesake_cap = f"CASE WHEN {town.sql} THEN {town.cap!r} ELSE 1.0 END" if town else "1.0"
            if threshold is None:
                with _timed(state, "threshold"):
                    probabilities, counts = con.distribution(
                        f"SELECT least(CASE WHEN {evidence} THEN match_probability "
                        f"WHEN {observed} THEN least(match_probability, {disagree_cap!r}) "
                        f"ELSE least(match_probability, {cap!r}) END, {namesake_cap}) AS p "
                        f"FROM {predictions}"
                    )
                    threshold, grid = choose_threshold(probabilities, counts)
            columns = ", ".join(
                ["record_id_l", "record_id_r", "match_probability", "match_weight", *gammas]
            )
            distinct = found.distinct_sql if found else "false"
            # Below `weak` a pair is kept only when it shares an email or a phone whose link a
            # conflict withheld and every filled person field names someone else: two people
            # of one family mailbox, held apart in clustering (see _write_scores).
            predicted = (
                f"SELECT {columns}, {evidence} AS person_evidence, "
                f"{distinct} AS person_distinct, "
                f"CASE WHEN {observed} THEN {disagree_cap!r} ELSE {cap!r} END AS evidence_cap, "
                f"{weight_beyond_names_sql(state['model'], gammas)} AS weight_beyond_names, "
                f"coalesce({beyond_town.beyond_sql if beyond_town else 'false'}, false) AS beyond_town, "
                f"{namesake_cap} AS namesake_cap, "
                "w.wl IS NOT NULL AS shares_key "
                f"FROM {predictions} LEFT JOIN (SELECT record_id_l AS wl, record_id_r AS wr "
                "FROM _identity_det WHERE withheld) w ON w.wl = record_id_l AND w.wr = record_id_r "
                f"WHERE match_probability >= {float(identity.categories.weak)} "
                f"OR (w.wl IS NOT NULL AND {distinct})"
            )
        else:
            predicted = "SELECT NULL::VARCHAR AS record_id_l, NULL::VARCHAR AS record_id_r, NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight, NULL::BOOLEAN AS person_evidence, NULL::BOOLEAN AS person_distinct, NULL::DOUBLE AS evidence_cap, NULL::DOUBLE AS weight_beyond_names, NULL::BOOLEAN AS beyond_town, NULL::DOUBLE AS namesake_cap, NULL::BOOLEAN AS shares_key WHERE false"
        if threshold is None:
            threshold = FALLBACK_THRESHOLD  # nothing scored: only deterministic links (1.0)
        with _timed(state, "write_scores"):
            _write_scores(con, identity, predicted, gammas, threshold)
        _write_decision(con, threshold, grid, identity.match_threshold is None)
    finally:
        con.drop_splink_tables()
        con.drop_view(_PREDICTED_VIEW)
        con.drop_view(_INPUT_VIEW)
    con.drop_temp("_identity_det")
    summary = con.fetch(
        f"SELECT count(*), count_if(match_type = 'probabilistic'), count_if(separation_conflict), "
        f"count_if(separation_override) FROM {TABLE}"
    )[0]
    by_key = dict(
        con.fetch(
            f"SELECT match_type, count(*) FROM {TABLE} WHERE match_type <> 'probabilistic' GROUP BY ALL"
        )
    )
    categories = dict(con.fetch(f"SELECT match_category, count(*) FROM {TABLE} GROUP BY ALL"))
    plan = state.get("plan")
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
        match_threshold=threshold,
        threshold_grid=grid,
        threshold_chosen=identity.match_threshold is None,
        profile=plan.profile if plan else {},
        blocking_estimates=plan.blocking_estimates if plan else [],
        em_rules=["+".join(r) for r in plan.em_rules] if plan else [],
        em_floored=state.get("em_floored", {}),
        weights=model_weights(state["model"]) if state.get("model") else [],
        person_evidence=state.get("person_evidence", {}),
        namesakes=state.get("namesakes", {}),
        separation_conflicts=summary[2],
        separation_overrides=summary[3],
        stage_seconds=state.get("seconds", {}),
    )


@dataclass(frozen=True)
class PersonEvidence:
    """SQL for 'this pair agrees on a person-level field', and how far a pair without such
    agreement may be trusted (its probability is capped at `cap`)."""

    sql: str  # true when the pair has person-level evidence
    observed_sql: str  # true when some person-level field is filled on both sides
    shared_sql: str  # true when the pair shares surname and address (top levels)
    fields: list[str]
    # Measured on pairs sharing surname and address with a person-level field filled on both
    # sides: how many agree on none of them (different people of one household).
    household_pairs: int = 0
    shared_pairs: int = 0
    # The model's own chance that one person disagrees on every person-level field (product of
    # the m probabilities of their non-evidence levels): what true matches alone would show.
    match_disagreement: float = 0.0
    # Of the household_pairs, how many true matches explain: per set of fields filled on both
    # sides, r / (1 - r) x the pairs that agree, r the model's chance of disagreeing on all.
    explained_pairs: float = 0.0

    @property
    def distinct_sql(self) -> str:
        """True when every person-level field filled on both sides is at its 'all other' level
        (two different given names, not a typo of one): two people, not one mistyped."""
        every = " AND ".join(f"gamma_{f} <= 0" for f in self.fields)
        return f"coalesce(({every}) AND ({self.observed_sql}), false)"

    @property
    def household_share(self) -> float:
        # Laplace's rule: with nothing observed the share is 1/2, so no such pair is trusted.
        return (self.household_pairs + 1) / (self.shared_pairs + 2)

    @property
    def cap(self) -> float:
        return 1.0 - self.household_share

    @property
    def disagree_cap(self) -> float:
        """Chance that a shared-surname, shared-address pair disagreeing on every filled
        person-level field is one person: the share of such pairs that true matches explain
        (the rest are households). Near 1 on data whose disagreements the model expects from
        typos, near 0 with households."""
        return _explained_share(self.explained_pairs, self.household_pairs)

    def as_dict(self) -> dict:
        return {
            "fields": self.fields,
            "shared_pairs_with_person_fields": self.shared_pairs,
            "of_which_disagree_on_every_person_field": self.household_pairs,
            "household_share": round(self.household_share, 5),
            "cap_without_person_evidence": round(self.cap, 5),
            "model_chance_one_person_disagrees_on_all": round(self.match_disagreement, 6),
            "of_which_true_matches_explain": round(self.explained_pairs, 2),
            "cap_when_every_filled_person_field_disagrees": round(self.disagree_cap, 5),
        }


def _levels(comparison: dict) -> list[dict]:
    return [lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")]


def person_evidence(
    con: Engine,
    predictions: str,
    model: dict,
    fields: list[str],
    gammas: list[str],
) -> PersonEvidence | None:
    """Relatives at one address share the surname, the address and often a phone or an email:
    a link resting on those alone may join a household, not a person. A pair has person evidence
    when it agrees on one of `fields` (given name, date of birth, identifiers) at a level the
    trained model weighs as evidence for a match (m >= 2u).

    A pair without it is held back in one of two ways:
    - some person-level field is filled on both sides and none agrees (two given names, two
      dates of birth): that is what two members of a household look like, and also what a badly
      keyed record of one person looks like. Among the pairs sharing surname and address, the
      model's m probabilities say how many such disagreements true matches explain; the rest
      are households, and the pair keeps at most the explained share (`disagree_cap`; the
      model's own probability stays in model_probability);
    - no person-level field is filled on both sides: how far such a pair can be trusted is read
      from the data. Among pairs that share surname and address and have a person-level field
      filled on both sides, the share that agree on none estimates how often a shared surname
      and address are two people; the pair keeps at most 1 - that share. On data without
      households the share is near 0 and little changes.
    Splink numbers a comparison's non-null levels from n-1 (the first) down to 0 (all other)."""
    evidence, observed = [], []
    disagreement = 1.0
    shared, rates = [], []
    for comparison in model.get("comparisons", []):
        name = comparison.get("output_column_name")
        if f"gamma_{name}" not in gammas:
            continue
        levels = _levels(comparison)
        if name in ("surname", "address"):
            shared.append(f"gamma_{name} = {len(levels) - 1}")
        if name not in fields:
            continue
        positive = [
            len(levels) - 1 - i
            for i, lv in enumerate(levels)
            if lv.get("m_probability")
            and lv.get("u_probability")
            # At least twice as likely for a match (weight >= 1): a level EM left near m = u,
            # e.g. an identifier only one source fills, is no evidence either way.
            and lv["m_probability"] >= 2 * lv["u_probability"]
        ]
        if positive:
            evidence.append(f"gamma_{name} IN ({', '.join(map(str, positive))})")
            observed.append(f"gamma_{name} >= 0")
            # A level EM never saw (no m) holds next to no true matches.
            rates.append(
                sum(
                    lv.get("m_probability") or 0.0
                    for i, lv in enumerate(levels)
                    if len(levels) - 1 - i not in positive
                )
            )
            disagreement *= rates[-1]
            # A field filled in one source only is never observed on both sides of a pair:
            # such a pair carries no evidence either way.
    if not evidence:
        return None
    result = PersonEvidence(
        f"coalesce({' OR '.join(evidence)}, false)",
        " OR ".join(observed),
        " AND ".join(shared) or "true",
        [t.split(" ")[0].removeprefix("gamma_") for t in evidence],
    )
    # Counted per set of fields filled on both sides: a pair with only given names to compare
    # disagrees far more often than one with given names and dates of birth.
    households, explained, total = _explained_disagreements(
        con,
        predictions,
        f"({result.shared_sql}) AND ({result.observed_sql})",
        result.sql,
        observed,
        rates,
    )
    return PersonEvidence(
        **{
            **result.__dict__,
            "household_pairs": households,
            "shared_pairs": total,
            "match_disagreement": disagreement,
            "explained_pairs": explained,
        }
    )


def _explained_share(explained: float, disagreeing: int) -> float:
    """The share of disagreeing pairs that true matches explain (1 when none disagree)."""
    return min(1.0, explained / disagreeing) if disagreeing else 1.0


def _explained_disagreements(
    con: Engine,
    predictions: str,
    where: str,
    agree: str,
    observed: list[str],
    rates: list[float],
) -> tuple[int, float, int]:
    """Among the pairs `where` (each with some `observed` field filled on both sides): how many
    agree on none of the fields, how many of those true matches explain, and how many pairs in
    all. Counted per set of fields filled on both sides: with r the model's chance that one
    person's two records disagree on all of them (`rates` multiplied), r / (1 - r) x the pairs
    that agree there are the disagreeing pairs one person explains; the rest are two people."""
    rows = con.fetch(
        f"SELECT {', '.join(observed)}, count_if({agree}), count_if(NOT ({agree})) "
        f"FROM {predictions} WHERE {where} GROUP BY ALL"
    )
    disagreeing = explained = 0.0
    total = 0
    for row in rows:
        flags, agreeing, disagree = row[:-2], row[-2] or 0, row[-1] or 0
        r = min(math.prod(rate for rate, seen in zip(rates, flags) if seen), 0.5)
        explained += r / (1 - r) * agreeing
        disagreeing += disagree
        total += agreeing + disagree
    return int(disagreeing), explained, total


@dataclass(frozen=True)
class Namesakes:
    """Pairs sharing one name and one town and nothing stronger, with a phone, an email or a
    date of birth filled on both sides that differs (profile.TownLevels): what two people of
    one name in one town look like, and also one person with a second mailbox. The share that
    true matches explain is measured like the household rule's (`_explained_disagreements`,
    among the pairs sharing one name and one town); such a pair keeps at most that share."""

    sql: str  # true for such a pair
    pairs: int = 0  # one name, one town, a strong field filled on both sides
    disagreeing: int = 0  # of which every such field differs
    explained: float = 0.0  # of those, how many true matches explain

    @property
    def cap(self) -> float:
        return _explained_share(self.explained, self.disagreeing)

    def as_dict(self) -> dict:
        return {
            "one_name_one_town_pairs": self.pairs,
            "of_which_differ_on_every_strong_field": self.disagreeing,
            "of_which_true_matches_explain": round(self.explained, 2),
            "cap_for_namesakes": round(self.cap, 5),
        }


def namesakes(con: Engine, predictions: str, town: TownLevels | None) -> Namesakes | None:
    """The namesake rule (Namesakes) measured on the scored pairs; None when the model has no
    town level or no agreement stronger than a town (`town`, from profile.town_levels)."""
    if town is None or not town.others:
        return None
    fields = town.others
    disagreeing, explained, total = _explained_disagreements(
        con,
        predictions,
        town.measured_sql,
        town.agree_sql,
        town.observed_sql,
        [town.against_m[f] for f in fields],
    )
    return Namesakes(town.namesake_sql, total, disagreeing, explained)


def _write_decision(con: Engine, threshold: float, grid: list[dict], chosen: bool) -> None:
    """The threshold clustering uses, beside how it was chosen."""
    con.write_arrow(
        DECISION_TABLE,
        pa.table(
            {
                "match_threshold": pa.array([threshold], pa.float64()),
                "chosen_from_model": [chosen],
                "grid_json": [json.dumps(grid)],
            }
        ),
    )


def match_threshold(con, identity: IdentityConfig) -> float:
    """The configured threshold, else the one score_pairs chose from the model."""
    if identity.match_threshold is not None:
        return identity.match_threshold
    con = as_engine(con)
    if con.table_exists(DECISION_TABLE):
        return float(con.fetch(f"SELECT match_threshold FROM {DECISION_TABLE}")[0][0])
    # Scores written some other way (loaded or built by hand): no model to read a threshold from.
    return FALLBACK_THRESHOLD


def _write_scores(
    con: Engine,
    identity: IdentityConfig,
    predicted: str,
    gammas: list[str],
    threshold: float,
) -> None:
    c = identity.categories
    threshold_weight = math.log2(threshold / (1 - threshold))
    separation = [k for k in identity.separation_keys if k in con.columns(STANDARDISED)]
    conflict = " OR ".join(f"(a.{quote(k)} <> b.{quote(k)})" for k in separation) or "false"
    beyond = "true" if identity.separation_override == "beyond_names" else "false"
    gamma_select = "".join(f", p.{g}" for g in gammas)
    con.write_table(
        TABLE,
        f"""
        WITH p AS ({predicted}),
        pairs AS (
            SELECT coalesce(p.record_id_l, d.record_id_l) AS record_id_l, coalesce(p.record_id_r, d.record_id_r) AS record_id_r,
                   d.det_key, p.match_probability AS model_probability, p.match_weight, p.person_evidence, p.person_distinct, p.evidence_cap,
                   p.weight_beyond_names, p.beyond_town, p.namesake_cap, p.shares_key{gamma_select}
            FROM p FULL OUTER JOIN (SELECT record_id_l, record_id_r, det_key FROM _identity_det WHERE NOT withheld) d
              ON p.record_id_l = d.record_id_l AND p.record_id_r = d.record_id_r
        )
        SELECT pairs.record_id_l, pairs.record_id_r,
               CASE WHEN det_key IS NOT NULL THEN 1.0
                    WHEN NOT person_evidence THEN least(model_probability, evidence_cap, namesake_cap)
                    ELSE least(model_probability, namesake_cap) END AS match_probability,
               match_weight, model_probability, person_evidence,
               -- Every filled person-level field names someone else, and the model alone would
               -- link the pair or it shares an email or phone (a family mailbox): clustering
               -- keeps the two apart, so a third record matching both cannot chain them.
               coalesce(det_key IS NULL AND person_distinct
                        AND (model_probability >= {threshold!r} OR shares_key)
                        AND least(model_probability, evidence_cap) < {threshold!r}, false) AS held_apart,
               CASE WHEN det_key IS NOT NULL THEN 'exact'
                    WHEN model_probability >= {c.excellent} THEN 'excellent'
                    WHEN model_probability >= {c.high} THEN 'high'
                    WHEN model_probability >= {c.moderate} THEN 'moderate' ELSE 'weak' END AS match_category,
               CASE WHEN det_key IS NOT NULL THEN 'deterministic:' || det_key ELSE 'probabilistic' END AS match_type,
               coalesce({conflict}, false) AS separation_conflict,
               coalesce({conflict}, false) AND links_beyond_names AS separation_override,
               links_beyond_names, weight_beyond_names{"".join(f", pairs.{g}" for g in gammas)}
        FROM (SELECT *,
               -- Evidence of one person that two accounts may rest on: the model links the pair
               -- with person-level evidence and would without the names, which strangers share
               -- by chance, or the pair shares one name and more than a town (profile.TownLevels).
               -- A pair of two accounts with it is separation_override; accounts joined by a
               -- chain of such pairs are one person (cluster._joined_key_values).
               coalesce({beyond} AND person_evidence AND model_probability >= {threshold!r}
                        AND (weight_beyond_names >= {threshold_weight!r} OR beyond_town), false)
                 AS links_beyond_names
             FROM pairs) pairs
        JOIN {STANDARDISED} a ON a.record_id = pairs.record_id_l
        JOIN {STANDARDISED} b ON b.record_id = pairs.record_id_r
        ORDER BY pairs.record_id_l, pairs.record_id_r
    """,
    )
