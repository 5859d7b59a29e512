"""Union every declared source into `unified_standardised`: one row per source record, person
fields normalised, junk turned into NULL, and every junk / invalid value counted per source column.

Python normalisation runs once per distinct raw value (mapped back with a join), so a million
records cost about as much as their distinct emails, phones and addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from braze_assets.config.model import ProjectConfig
from braze_assets.config.sources import (
    ATTRIBUTE_TAG,
    CUSTOM_IDENTIFIER_PREFIX,
    PERSON_TAGS,
    SourceConfig,
)
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.normalise import INVALID, JUNK, OK, Normaliser
from braze_assets.warehouse import quote, quote_literal

TABLE = "unified_standardised"
# Output columns in order; identifier_<name> columns follow for custom identifiers.
# Match-form fields keep their tag's name; display, canonical and variant forms follow their field.
_DERIVED = {
    "given_name": ("given_name_display", "given_name_canonical", "given_name_variants"),
    "surname": ("surname_display",),
    "email": ("email_display",),
}
# full_name is split into given_name and surname, so it has no column of its own.
PERSON_FIELDS = tuple(
    f for tag in PERSON_TAGS if tag != "full_name" for f in (tag, *_DERIVED.get(tag, ()))
)


class IdentityInputError(ValueError):
    """Input that identity resolution must not guess about; the message names source and column."""


@dataclass(frozen=True)
class ColumnStats:
    source: str
    column: str
    tag: str
    non_null: int
    junk: int
    invalid: int

    @property
    def valid(self) -> int:
        return self.non_null - self.junk - self.invalid


@dataclass
class StandardiseReport:
    rows: int
    rows_per_source: dict[str, int]
    duplicate_keys: dict[str, int]
    missing_keys: dict[str, int]
    columns: list[ColumnStats]
    problems: list[str] = field(default_factory=list)

    @property
    def junk_total(self) -> int:
        return sum(c.junk for c in self.columns)

    @property
    def invalid_total(self) -> int:
        return sum(c.invalid for c in self.columns)


def identifier_field(tag: str) -> str:
    return "identifier_" + tag[len(CUSTOM_IDENTIFIER_PREFIX) :]


def custom_identifier_fields(config: ProjectConfig) -> list[str]:
    tags = {
        t
        for s in config.sources
        for t in s.columns.values()
        if t.startswith(CUSTOM_IDENTIFIER_PREFIX)
    }
    return sorted(identifier_field(t) for t in tags)


def _check_inputs(con: Engine, config: ProjectConfig) -> None:
    problems = []
    for source in config.sources:
        table = f"raw_{source.name}"
        if not con.table_exists(table):
            problems.append(
                f"source {source.name!r}: table {table} is missing (is {source.location} loaded?)"
            )
            continue
        present = con.columns(table)
        needed = {source.primary_key: "primary key", source.updated_at: "updated_at"}
        needed.update({c: t for c, t in source.columns.items() if t != ATTRIBUTE_TAG})
        for column, tag in needed.items():
            if column not in present:
                problems.append(
                    f"source {source.name!r}: column {column!r} (tagged {tag}) is not in {table} "
                    f"(it has: {', '.join(c for c in present if not c.startswith('_'))})"
                )
    if problems:
        raise IdentityInputError("; ".join(problems))


def _raw_select(source: SourceConfig) -> dict[str, str]:
    """The stage's columns for one source: output name -> SQL expression over raw_<source>."""

    def text(column: str) -> str:
        return f"NULLIF(trim(CAST({quote(column)} AS VARCHAR)), '')"

    by_tag: dict[str, list[str]] = {}
    for column, tag in source.columns.items():
        if tag != ATTRIBUTE_TAG:
            by_tag.setdefault(tag, []).append(column)
    parts = {
        "source": quote_literal(source.name),
        "source_pk": text(source.primary_key),
        "raw_updated_at": text(source.updated_at),
        "priority": str(int(source.priority)),
        "region": quote_literal(source.default_region.upper()),
        "source_row": "_row_number",
    }
    for tag, columns in by_tag.items():
        name = identifier_field(tag) if tag.startswith(CUSTOM_IDENTIFIER_PREFIX) else tag
        parts["raw_" + name] = (
            text(columns[0])
            if len(columns) == 1
            else "NULLIF(concat_ws(' ', " + ", ".join(text(c) for c in columns) + "), '')"
        )
    return parts


def _stage_sql(sources: list[SourceConfig]) -> str:
    """Every source's rows under one set of columns (in first-seen order), NULL where a source has
    no such column: DuckDB's UNION ALL BY NAME, spelled out so Spark SQL runs the same query."""
    selects = [(source, _raw_select(source)) for source in sources]
    names: list[str] = []
    for _, parts in selects:
        names += [n for n in parts if n not in names]
    return " UNION ALL ".join(
        "SELECT "
        + ", ".join(f"{parts.get(n, 'CAST(NULL AS VARCHAR)')} AS {quote(n)}" for n in names)
        + f" FROM {quote('raw_' + source.name)}"
        for source, parts in selects
    )


def _register(
    con: Engine,
    name: str,
    columns: dict[str, list],
    types: dict[str, pa.DataType],
) -> None:
    table = pa.table({c: pa.array(v, type=types.get(c, pa.string())) for c, v in columns.items()})
    con.register(name, table)


def _map_values(
    con: Engine,
    name: str,
    raw_columns: list[str],
    fn: Callable[[str], tuple],
    out: list[str],
    types: dict[str, pa.DataType] | None = None,
) -> None:
    """Register `name(raw, *out)` for every distinct value found in any of `raw_columns`."""
    union = " UNION ALL ".join(
        f"SELECT {quote(c)} AS raw FROM _identity_stage WHERE {quote(c)} IS NOT NULL"
        for c in raw_columns
    )
    if not union:
        _register(con, name, {"raw": [], **{o: [] for o in out}}, types or {})
        return
    con.map_distinct(name, f"SELECT DISTINCT raw FROM ({union})", ["raw"], fn, out, types)


def _map_phones(con: Engine, normaliser: Normaliser) -> None:
    if "raw_phone" not in _stage_columns(con):
        _register(con, "_map_phone", {"raw": [], "region": [], "value": [], "status": []}, {})
        return
    # Many raw spellings share one phone key; each (key, region) is parsed once per process.
    parsed: dict[tuple, tuple] = {}

    def phone(raw: str, region: str) -> tuple:
        key = (Normaliser.phone_key(raw), region)
        if key not in parsed:
            parsed[key] = normaliser.phone(*key)
        return parsed[key]

    con.map_distinct(
        "_map_phone",
        "SELECT DISTINCT raw_phone, region FROM _identity_stage WHERE raw_phone IS NOT NULL",
        ["raw", "region"],
        phone,
        ["value", "status"],
    )


def _stage_columns(con: Engine) -> set[str]:
    return set(con.columns("_identity_stage"))


def _build_maps(con: Engine, normaliser: Normaliser) -> None:
    present = _stage_columns(con)

    def cols(*names: str) -> list[str]:
        return [f"raw_{n}" for n in names if f"raw_{n}" in present]

    def name_fn(raw: str) -> tuple:
        value, status = normaliser.name(raw)
        return value, status, normaliser.display_name(raw) if status == OK else None

    _map_values(
        con, "_map_name", cols("given_name", "surname"), name_fn, ["value", "status", "display"]
    )

    def full_name_fn(raw: str) -> tuple:
        (given, given_status), (surname, surname_status) = normaliser.split_full_name(raw)
        status = (
            surname_status if surname_status != OK else given_status if given_status == JUNK else OK
        )
        return given, surname, status, given and given.title(), surname and surname.title()

    _map_values(
        con,
        "_map_full_name",
        cols("full_name"),
        full_name_fn,
        ["given", "surname", "status", "given_display", "surname_display"],
    )
    _map_values(con, "_map_email", cols("email"), normaliser.email, ["value", "display", "status"])
    _map_phones(con, normaliser)
    _map_values(
        con,
        "_map_address",
        cols("address_line1", "address_line2"),
        normaliser.address_line,
        ["value", "status"],
    )
    _map_values(con, "_map_city", cols("city"), normaliser.city, ["value", "status"])
    _map_values(con, "_map_state", cols("state"), normaliser.state, ["value", "status"])
    _map_values(con, "_map_country", cols("country"), normaliser.country, ["value", "status"])
    _map_values(
        con,
        "_map_birthdate",
        cols("birthdate"),
        normaliser.birthdate,
        ["value", "status"],
        {"value": pa.date32()},
    )
    _map_values(con, "_map_gender", cols("gender"), normaliser.gender, ["value", "status"])
    _map_values(
        con,
        "_map_external",
        cols("external_id"),
        lambda raw: normaliser.identifier(raw, keep_case=True),
        ["value", "status"],
    )
    ids = cols("loyalty_id") + sorted(c for c in present if c.startswith("raw_identifier_"))
    _map_values(con, "_map_identifier", ids, normaliser.identifier, ["value", "status"])


def _given_canonical(con: Engine, normaliser: Normaliser) -> None:
    con.map_distinct(
        "_map_canonical",
        "SELECT DISTINCT given_name FROM _identity_step1 WHERE given_name IS NOT NULL",
        ["raw"],
        lambda name: (normaliser.canonical_given_name(name), normaliser.given_name_variants(name)),
        ["value", "variants"],
        {"variants": pa.list_(pa.string())},
    )


def _postal(con: Engine, normaliser: Normaliser) -> None:
    con.map_distinct(
        "_map_postal",
        "SELECT DISTINCT raw_postal_code, postal_country FROM _identity_step1 WHERE raw_postal_code IS NOT NULL",
        ["raw", "country"],
        normaliser.postal_code,
        ["value", "status"],
    )


# One try_strptime per format (not DuckDB's list form, which has the same meaning) so the Spark
# engine can transpile each to try_to_timestamp.
_UPDATED_AT = (
    "coalesce(try_cast(raw_updated_at AS TIMESTAMP), "
    + ", ".join(
        f"try_strptime(raw_updated_at, '{fmt}')"
        for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%Y%m%d", "%d.%m.%Y")
    )
    + ")"
)


def _step1_sql(present: set[str], identifiers: list[str]) -> str:
    """Join every map except those needing other normalised fields (postal code needs country)."""

    def raw(name: str) -> str:
        return f"s.raw_{name}" if f"raw_{name}" in present else "CAST(NULL AS VARCHAR)"

    given_from_full = "raw_full_name" in present
    select = [
        "s.source",
        "s.source_pk",
        "s.priority",
        "s.region",
        "s.source_row",
        f"{_UPDATED_AT} AS updated_at",
        "s.raw_updated_at",
        f"coalesce(g.value, {'fn.given' if given_from_full else 'NULL'}) AS given_name",
        f"coalesce(g.display, {'fn.given_display' if given_from_full else 'NULL'}) AS given_name_display",
        f"coalesce(sn.value, {'fn.surname' if given_from_full else 'NULL'}) AS surname",
        f"coalesce(sn.display, {'fn.surname_display' if given_from_full else 'NULL'}) AS surname_display",
        "em.value AS email",
        "em.display AS email_display",
        "ph.value AS phone",
        "a1.value AS address_line1",
        "a2.value AS address_line2",
        "ci.value AS city",
        "st.value AS state",
        "co.value AS country",
        "coalesce(co.value, s.region) AS postal_country",
        f"{raw('postal_code')} AS raw_postal_code",
        "bd.value AS birthdate",
        "ge.value AS gender",
        "lo.value AS loyalty_id",
        "ex.value AS external_id",
    ]
    statuses = {
        "given_name": "g.status",
        "surname": "sn.status",
        "full_name": "fn.status" if given_from_full else None,
        "email": "em.status",
        "phone": "ph.status",
        "address_line1": "a1.status",
        "address_line2": "a2.status",
        "city": "ci.status",
        "state": "st.status",
        "country": "co.status",
        "birthdate": "bd.status",
        "gender": "ge.status",
        "loyalty_id": "lo.status",
        "external_id": "ex.status",
    }
    joins = [
        ("_map_name g", f"g.raw = {raw('given_name')}"),
        ("_map_name sn", f"sn.raw = {raw('surname')}"),
        ("_map_email em", f"em.raw = {raw('email')}"),
        ("_map_phone ph", f"ph.raw = {raw('phone')} AND ph.region = s.region"),
        ("_map_address a1", f"a1.raw = {raw('address_line1')}"),
        ("_map_address a2", f"a2.raw = {raw('address_line2')}"),
        ("_map_city ci", f"ci.raw = {raw('city')}"),
        ("_map_state st", f"st.raw = {raw('state')}"),
        ("_map_country co", f"co.raw = {raw('country')}"),
        ("_map_birthdate bd", f"bd.raw = {raw('birthdate')}"),
        ("_map_gender ge", f"ge.raw = {raw('gender')}"),
        ("_map_identifier lo", f"lo.raw = {raw('loyalty_id')}"),
        ("_map_external ex", f"ex.raw = {raw('external_id')}"),
    ]
    if given_from_full:
        joins.append(("_map_full_name fn", "fn.raw = s.raw_full_name"))
    for i, ident in enumerate(identifiers):
        alias = f"id{i}"
        joins.append((f"_map_identifier {alias}", f"{alias}.raw = {raw(ident)}"))
        select.append(f"{alias}.value AS {quote(ident)}")
        statuses[ident] = f"{alias}.status"
    select += [f"{expr} AS {quote(tag + '__status')}" for tag, expr in statuses.items() if expr]
    select += [
        f"s.{quote(c)}"
        for c in sorted(present)
        if c.startswith("raw_") and c not in ("raw_updated_at", "raw_postal_code")
    ]
    from_sql = "_identity_stage s " + " ".join(f"LEFT JOIN {t} ON {cond}" for t, cond in joins)
    return f"SELECT {', '.join(select)} FROM {from_sql}"


def _column_stats(con: Engine, config: ProjectConfig) -> list[ColumnStats]:
    present = set(con.columns("_identity_step2"))
    # Every source's counts in one query grouped by source (one Spark job, not one per source);
    # each source reads the expressions of its own tags.
    exprs: list[str] = [
        "count(raw_updated_at)",
        "count_if(raw_updated_at IS NOT NULL AND updated_at IS NULL)",
    ]
    plans = []
    for source in config.sources:
        by_tag: dict[str, list[str]] = {}
        for column, tag in source.columns.items():
            if tag != ATTRIBUTE_TAG:
                by_tag.setdefault(tag, []).append(column)
        keys = []
        for tag, columns in by_tag.items():
            name = identifier_field(tag) if tag.startswith(CUSTOM_IDENTIFIER_PREFIX) else tag
            status = quote(name + "__status")
            if name + "__status" not in present:
                continue
            triple = [
                f"count({quote('raw_' + name)})",
                f"count_if({status} = '{JUNK}')",
                f"count_if({status} = '{INVALID}')",
            ]
            for e in triple:
                if e not in exprs:
                    exprs.append(e)
            keys.append((", ".join(columns), tag, [exprs.index(e) for e in triple]))
        plans.append((source, keys))
    rows = {
        row[0]: row[1:]
        for row in con.fetch(
            f"SELECT source, {', '.join(exprs)} FROM _identity_step2 GROUP BY source"
        )
    }
    stats = []
    for source, keys in plans:
        # A source without rows has no group: all its counts are 0, as count() gives.
        row = rows.get(source.name, (0,) * len(exprs))
        for column, tag, at in keys:
            stats.append(ColumnStats(source.name, column, tag, *(row[i] for i in at)))
        stats.append(ColumnStats(source.name, source.updated_at, "updated_at", row[0], 0, row[1]))
    return stats


def _problems(stats: Iterable[ColumnStats], rows: dict[str, int]) -> list[str]:
    problems = []
    for c in stats:
        if c.tag == "updated_at":
            continue
        if c.non_null == 0:
            problems.append(
                f"source {c.source!r}: column {c.column!r} ({c.tag}) is empty in all {rows[c.source]} rows"
            )
        elif c.valid == 0:
            problems.append(
                f"source {c.source!r}: column {c.column!r} ({c.tag}) has no usable value "
                f"({c.junk} junk, {c.invalid} invalid of {c.non_null})"
            )
    return problems


def standardise(con, config: ProjectConfig, identity: IdentityConfig) -> StandardiseReport:
    """Build unified_standardised on an Engine (a DuckDB connection is wrapped as one)."""
    con = as_engine(con)
    _check_inputs(con, config)
    normaliser = Normaliser(identity)
    identifiers = custom_identifier_fields(config)
    con.create_temp("_identity_stage", _stage_sql(config.sources))
    present = _stage_columns(con)
    for column in ["raw_" + n for n in identifiers]:
        if column not in present:
            raise IdentityInputError(
                f"custom identifier column {column} is missing from every source"
            )
    _build_maps(con, normaliser)
    con.create_temp("_identity_step1", _step1_sql(present, identifiers))
    _given_canonical(con, normaliser)
    _postal(con, normaliser)
    con.create_temp(
        "_identity_step2",
        "SELECT s.*, c.value AS given_name_canonical, "
        "c.variants AS given_name_variants, "
        "p.value AS postal_code, p.status AS postal_code__status FROM _identity_step1 s "
        "LEFT JOIN _map_canonical c ON c.raw = s.given_name "
        "LEFT JOIN _map_postal p ON p.raw = s.raw_postal_code AND p.country = s.postal_country",
    )
    rows_per_source = dict(
        con.fetch("SELECT source, count(*) FROM _identity_step2 GROUP BY source")
    )
    rows_per_source = {s.name: rows_per_source.get(s.name, 0) for s in config.sources}
    missing_keys = dict(
        con.fetch(
            "SELECT source, count(*) FROM _identity_step2 WHERE source_pk IS NULL GROUP BY source"
        )
    )
    duplicates = dict(
        con.fetch(
            "SELECT source, count(*) - count(DISTINCT source_pk) FROM _identity_step2 WHERE source_pk IS NOT NULL GROUP BY source"
        )
    )
    stats = _column_stats(con, config)
    problems = _problems(stats, rows_per_source)
    if problems and identity.empty_columns == "error":
        raise IdentityInputError("; ".join(problems))
    problems += [
        f"source {s!r}: {n} rows have no primary key and were skipped"
        for s, n in missing_keys.items()
        if n
    ]
    out = ", ".join(quote(c) for c in (*PERSON_FIELDS, *identifiers))
    # A source key seen twice keeps its newest row, so record ids stay unique. Without duplicates
    # (counted above) the window would keep every row: it is left out, since at 1M rows it was
    # ~1.6 of this write's ~10 CPU-s (measured, benchmarks/README.md).
    newest = (
        "QUALIFY row_number() OVER (PARTITION BY source, source_pk ORDER BY updated_at DESC NULLS LAST, source_row DESC) = 1 "
        if any(duplicates.values())
        else ""
    )
    con.write_table(
        TABLE,
        f"SELECT source || ':' || source_pk AS record_id, source, source_pk, "
        f"updated_at, priority, source_row, {out} FROM _identity_step2 WHERE source_pk IS NOT NULL "
        f"{newest}ORDER BY source, source_row",
    )
    for name in ("_identity_stage", "_identity_step1", "_identity_step2"):
        con.drop_temp(name)
    for name in (
        "name",
        "full_name",
        "email",
        "phone",
        "address",
        "city",
        "state",
        "country",
        "birthdate",
        "gender",
        "identifier",
        "external",
        "canonical",
        "postal",
    ):
        con.unregister(f"_map_{name}")
    total = con.fetch(f"SELECT count(*) FROM {TABLE}")[0][0]
    return StandardiseReport(
        rows=total,
        rows_per_source=rows_per_source,
        duplicate_keys={s: int(n) for s, n in duplicates.items() if n},
        missing_keys={s: int(n) for s, n in missing_keys.items() if n},
        columns=stats,
        problems=problems,
    )
