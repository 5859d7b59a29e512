"""Profile the standardised records and choose the matching model from what the data holds.

Used when the `identity` section leaves blocking rules, comparisons or EM sessions unset (the
default): every tagged field that is filled often enough gets a comparison, blocking rules are
kept while their expected number of comparisons stays within a budget, and EM sessions block on
fields that are specific but not compared by every other session. Nothing here looks at truth.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from braze_assets.engine.base import Engine
from braze_assets.identity.config import ComparisonConfig
from braze_assets.identity.standardise import TABLE as STANDARDISED
from braze_assets.warehouse import quote

# A field filled in fewer records than this carries too little evidence to train on.
MIN_FILL = 0.02
# Street number: the leading digits of the street line (US "123 Main St", AU "7 wallaby place").
STREET_NUMBER_SQL = "nullif(regexp_extract(address_line1, '^([0-9]+[A-Z]?) ', 1), '')"


@dataclass(frozen=True)
class FieldProfile:
    field: str
    filled: float  # share of records with a value
    distinct: int
    # Chance that two random records, both filled, hold the same value (sum of squared shares):
    # the 'u' of an exact match, so low means a specific field.
    random_agreement: float
    # Share of values held by one record only: typos and free text make this high.
    singleton_share: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RuleEstimate:
    rule: list[str]
    comparisons: int
    kept: bool
    reason: str


def profile_fields(con: Engine, fields: list[str], records: int) -> dict[str, FieldProfile]:
    # One query for all fields (a union of one aggregate row per field): on Spark each query is a
    # job of its own, whose start costs more than profiling a field of a small table.
    parts = []
    for i, f in enumerate(fields):
        expr = STREET_NUMBER_SQL if f == "street_number" else quote(f)
        parts.append(
            f"""SELECT {i} AS i, coalesce(sum(n), 0), count(*), coalesce(sum(n * n) / nullif(sum(n) * sum(n), 0), 0),
                       coalesce(count_if(n = 1) / nullif(count(*), 0), 0)
                FROM (SELECT {expr} AS v, count(*) AS n FROM {STANDARDISED} WHERE {expr} IS NOT NULL GROUP BY v)"""
        )
    rows = con.fetch(" UNION ALL ".join(parts)) if parts else []
    out: dict[str, FieldProfile] = {}
    for i, filled, distinct, agree, singles in sorted(rows):
        f = fields[i]
        out[f] = FieldProfile(
            f, filled / max(records, 1), int(distinct), float(agree), float(singles)
        )
    return out


def rule_sql(rule: list[str]) -> str:
    return " AND ".join(
        f"l.{quote(f)} = r.{quote(f)}"
        if f != "street_number"
        else f"{STREET_NUMBER_SQL.replace('address_line1', 'l.address_line1')} = "
        f"{STREET_NUMBER_SQL.replace('address_line1', 'r.address_line1')}"
        for f in rule
    )


def expected_comparisons(con: Engine, rules: list[list[str]]) -> list[int]:
    """Pairs each blocking rule generates on its own (as Splink's blocking analysis counts them).
    One query for all rules, as profile_fields: on Spark each query is a job of its own."""
    parts = []
    for i, rule in enumerate(rules):
        exprs = [STREET_NUMBER_SQL if f == "street_number" else quote(f) for f in rule]
        where = " AND ".join(f"{e} IS NOT NULL" for e in exprs)
        parts.append(
            f"SELECT {i} AS i, coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n "
            f"FROM {STANDARDISED} WHERE {where} GROUP BY {', '.join(exprs)})"
        )
    counts = dict(con.fetch(" UNION ALL ".join(parts))) if parts else {}
    return [int(counts[i]) for i in range(len(rules))]


# Candidate rules, most specific first. Each catches the true matches the others miss when one
# field has a typo; the budget drops the ones that would compare too many pairs on this data.
_CANDIDATE_RULES = (
    ["email"],
    ["phone"],
    ["loyalty_id"],
    ["external_id"],
    ["given_name_canonical", "surname"],
    ["surname", "birthdate"],
    ["given_name_canonical", "birthdate"],
    ["surname", "postal_code"],
    ["given_name_canonical", "postal_code"],
    ["address_line1", "postal_code"],
    ["birthdate", "postal_code"],
    ["street_number", "postal_code"],
    ["street_number", "surname"],
    ["birthdate"],
    ["postal_code"],
)


def choose_blocking(
    con: Engine, active: set[str], records: int
) -> tuple[list[list[str]], list[RuleEstimate]]:
    # Budget per rule: ten comparisons per record keeps predict near-linear in records (every
    # blocked pair is scored by every comparison), and small files can afford broad rules (a
    # postcode alone) that catch doubly-typoed pairs. At a million records a postcode alone
    # would be 25M pairs, three quarters of all comparisons, for the few pairs no other rule finds.
    budget = max(10 * records, 200_000)
    # And all rules together: six per record (Splink's usual rules give about five on the demo),
    # so a broad rule late in the list (a birthdate alone: 2.4M pairs at a million records) is
    # dropped at scale once the specific rules before it have used the budget. Small files
    # (under a third of a million records) keep every rule that fits on its own.
    total_budget = max(6 * records, 2_000_000)
    identifiers = sorted(c for c in active if c.startswith("identifier_"))
    candidates = [[i] for i in identifiers] + [list(r) for r in _CANDIDATE_RULES]
    kept: list[list[str]] = []
    estimates: list[RuleEstimate] = []
    total = 0
    candidates = [
        rule
        for rule in candidates
        if {"address_line1" if f == "street_number" else f for f in rule} <= active
    ]
    for rule, n in zip(candidates, expected_comparisons(con, candidates)):
        if n > budget:
            reason = f"over the budget of {budget:,} comparisons"
        elif total + n > total_budget:
            reason = f"the rules before it use the total budget of {total_budget:,} comparisons"
        else:
            reason = "within budget"
        ok = reason == "within budget"
        estimates.append(RuleEstimate(rule, n, ok, reason))
        if ok:
            kept.append(rule)
            total += n
    return kept, estimates


def choose_comparisons(
    profiles: dict[str, FieldProfile], active: set[str]
) -> tuple[list[ComparisonConfig], list[str]]:
    """A comparison for every tagged field with enough values; returns (comparisons, skipped notes)."""
    usable = {f for f, p in profiles.items() if p.filled >= MIN_FILL}
    skipped = [
        f"comparison on {f} (filled in {p.filled:.1%} of records)"
        for f, p in profiles.items()
        if f not in usable
    ]
    out: list[ComparisonConfig] = []
    for f in ("given_name", "surname"):
        if f in usable:
            out.append(
                ComparisonConfig(
                    field=f, method="name", thresholds=[0.92, 0.85, 0.7], term_frequency=True
                )
            )
    if "email" in usable:
        out.append(ComparisonConfig(field="email", method="email"))
    if "phone" in usable:
        out.append(ComparisonConfig(field="phone", method="identifier"))
    if "birthdate" in usable:
        out.append(ComparisonConfig(field="birthdate", method="date_typos"))
    if usable & {"address_line1", "postal_code"}:
        line = "address_line1" if "address_line1" in usable else "postal_code"
        out.append(ComparisonConfig(field=line, method="location"))
    for f in sorted(usable):
        if f.startswith("identifier_") or f in ("loyalty_id", "external_id"):
            out.append(ComparisonConfig(field=f, method="identifier"))
    if "gender" in usable:
        out.append(ComparisonConfig(field="gender", method="exact"))
    return out, skipped


def choose_em_rules(profiles: dict[str, FieldProfile], active: set[str]) -> list[list[str]]:
    """EM sessions: one blocked on the names (trains every other comparison) and up to three
    blocked on the most telling other fields (train the names). Each blocks on a specific field
    so its pairs are rich in matches; a fixed number keeps training cost flat as data grows."""
    sessions: list[list[str]] = []
    if {"given_name", "surname"} <= active:
        sessions.append(["given_name", "surname"])
    candidates = [
        f
        for f in ("birthdate", "email", "phone", "postal_code")
        if f in active and f in profiles and profiles[f].filled >= MIN_FILL
    ] + sorted(f for f in active if f.startswith("identifier_"))
    # Most telling first: filled often and rarely equal by chance.
    candidates.sort(
        key=lambda f: (
            -(profiles[f].filled if f in profiles else 0.5)
            * (1 - (profiles[f].random_agreement if f in profiles else 0.0))
        )
    )
    sessions += [[f] for f in candidates[: 4 - len(sessions)]]
    return sessions


# The comparisons two strangers most often agree on by chance (people with the same name in
# one town): evidence that may not, on its own, join two accounts.
NAME_COMPARISONS = ("given_name", "surname")


def level_weights(model: dict) -> dict[str, dict[int, float]]:
    """Match weight (log2 m/u) of every non-null level of a saved Splink model, by comparison
    output name and gamma value (Splink numbers the non-null levels n-1 .. 0, first to last)."""
    out: dict[str, dict[int, float]] = {}
    for comparison in model.get("comparisons", []):
        levels = [
            lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")
        ]
        out[comparison.get("output_column_name")] = {
            len(levels) - 1 - i: math.log2(lv["m_probability"] / lv["u_probability"])
            for i, lv in enumerate(levels)
            if lv.get("m_probability") and lv.get("u_probability")
        }
    return out


_COLUMN = re.compile(r"\b([a-z_0-9]+)_[lr]\b")
# Location fields a whole town shares: a level comparing only these says "same town".
_TOWN_FIELDS = {"postal_code", "city", "state", "country"}


@dataclass(frozen=True)
class TownLevels:
    """What two namesakes in one town share, read from the trained model's levels.

    Strangers with one name most often live in one town too (the same postal code or city), and
    the model, which takes the name and the location as independent, links them. One person's
    records share the name and usually something a town does not: a phone, a date of birth, a
    street address, an email. Everything here comes from the model's level weights:
    - `name_sql`: the given name, and the surname where the model compares it, agree at a
      level at least as strong as the given name's nickname level (one name, as the nickname
      table or a near typo says; `marie` / `marilyn` is a similar name two members of a
      household may have);
    - `town_sql`: the location comparison agrees at a level that compares only town fields;
    - `strong`: per comparison other than the names, the levels that weigh more than any town
      level (an agreement namesakes do not share by chance);
    - `against`: per such comparison, its levels of weight -1 or less (a different phone, a
      birthdate EM found no more telling than a different one); the levels in between (a
      birthdate with a one-digit typo where typos are common) say neither;
    - `against_m`: per such comparison, the model's chance that one person's two records are at
      one of its `against` levels (their m summed)."""

    name_sql: str
    town_sql: str
    strong: dict[str, list[int]]
    against: dict[str, list[int]]
    against_m: dict[str, float]

    @property
    def beyond_sql(self) -> str:
        """One name, and more than a town in common (a street address counts): what two
        accounts of one person may join on."""
        return f"({self.name_sql} AND ({_any_level(self.strong)}))"

    @property
    def others(self) -> list[str]:
        """The strong comparisons besides the location: the ones a pair at a town level of the
        location may still agree on."""
        return [f for f in self.strong if f != "address"]

    @property
    def agree_sql(self) -> str:
        return _any_level({f: self.strong[f] for f in self.others}) or "false"

    @property
    def observed_sql(self) -> list[str]:
        """Per other strong comparison: filled on both sides."""
        return [f"gamma_{f} >= 0" for f in self.others]

    @property
    def measured_sql(self) -> str:
        """One name and one town, some other strong comparison filled on both sides, and each
        of those either agreeing at a strong level or all of them at an `against` level: the
        pairs the namesake share is measured on."""
        every_against = " AND ".join(
            f"(gamma_{f} < 0 OR {_any_level({f: self.against[f]}) or 'false'})" for f in self.others
        )
        return (
            f"{self.name_sql} AND {self.town_sql} AND ({' OR '.join(self.observed_sql)}) "
            f"AND (({self.agree_sql}) OR ({every_against}))"
        )

    @property
    def namesake_sql(self) -> str:
        """One name and one town, and every other strong comparison filled on both sides
        says they differ."""
        if not self.others:
            return "false"
        return f"coalesce({self.measured_sql} AND NOT ({self.agree_sql}), false)"


def _any_level(levels: dict[str, list[int]]) -> str:
    """gamma_f IN (levels) for every comparison with levels, OR-ed; '' when none has any."""
    return " OR ".join(f"gamma_{f} IN ({', '.join(map(str, g))})" for f, g in levels.items() if g)


def town_levels(model: dict, gammas: list[str]) -> TownLevels | None:
    """The model's town levels (see TownLevels), or None when it has no location level that
    compares only town fields, no given-name comparison, or no agreement stronger than a town."""
    weights = level_weights(model)
    town: dict[int, float] = {}
    given: dict[int, float] = {}
    nickname = None
    m: dict[str, dict[int, float]] = {}
    for comparison in model.get("comparisons", []):
        name = comparison.get("output_column_name")
        levels = [
            lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")
        ]
        for i, lv in enumerate(levels):
            gamma = len(levels) - 1 - i
            m.setdefault(name, {})[gamma] = lv.get("m_probability") or 0.0
            weight = weights.get(name, {}).get(gamma)
            if weight is None:
                continue
            fields = set(_COLUMN.findall(lv.get("sql_condition", "")))
            if name == "address" and fields and fields <= _TOWN_FIELDS:
                town[gamma] = weight
            if name == "given_name":
                given[gamma] = weight
                if "given_name_variants" in fields:
                    nickname = weight
    if not town or not given or "gamma_given_name" not in gammas or "gamma_address" not in gammas:
        return None
    floor = nickname if nickname is not None else max(given.values())
    bar = max(max(town.values()), 1.0)
    strong = {
        name: [g for g, w in sorted(levels.items()) if w > bar]
        for name, levels in weights.items()
        if name not in NAME_COMPARISONS and f"gamma_{name}" in gammas
    }
    strong = {name: levels for name, levels in strong.items() if levels}
    if not strong:
        return None
    # At least twice as likely for two people (weight <= -1), as evidence is m >= 2u.
    against = {name: [g for g, w in sorted(weights[name].items()) if w <= -1] for name in strong}
    name_sql = " AND ".join(
        f"gamma_{name} IN ({', '.join(str(g) for g, w in sorted(weights[name].items()) if w >= floor)})"
        for name in NAME_COMPARISONS
        if f"gamma_{name}" in gammas and any(w >= floor for w in weights.get(name, {}).values())
    )
    return TownLevels(
        name_sql=f"({name_sql})",
        town_sql=f"gamma_address IN ({', '.join(map(str, sorted(town)))})",
        strong=strong,
        against=against,
        against_m={
            name: sum(m[name].get(g, 0.0) for g in levels) for name, levels in against.items()
        },
    )


def weight_beyond_names_sql(model: dict, gammas: list[str]) -> str:
    """SQL for a scored pair's match weight from every comparison except the names (prior
    included, term frequencies left out): the evidence a link keeps when the name, the field two
    strangers share most often, is set aside. A pair whose records hold two different values of
    a separation key (two accounts) joins only when this alone reaches the threshold."""
    prior = model.get("probability_two_random_records_match") or 0.5
    # Cast: DuckDB reads a literal like 6.32 as a DECIMAL of that width.
    terms = [f"{math.log2(prior / (1 - prior))!r}::DOUBLE"]
    for name, levels in level_weights(model).items():
        if name in NAME_COMPARISONS or f"gamma_{name}" not in gammas or not levels:
            continue
        cases = " ".join(f"WHEN {g} THEN {w!r}::DOUBLE" for g, w in sorted(levels.items()))
        terms.append(f"CASE gamma_{name} {cases} ELSE 0 END")
    return " + ".join(terms)
