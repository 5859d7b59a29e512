"""Build `customer_attribute_source` (the view every attribute expression reads) and
`braze_customer_attributes` (one row per Braze profile per destination, typed, validated).

Written once against the Engine interface: casting, identifiers, held-back duplicates, counts and
the final tables are SQL; per-row validation runs the polars code below over Arrow batches of the
rows (map_batches: on DuckDB one batch on the driver, on Spark per batch on the executors), and
the standard-field checks (email, phone, country...) run once per distinct value. A value that
cannot be sent is set to NULL in the table and written to `braze_attribute_rejections` with its
reason: bad rows never fail the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import polars as pl
import pyarrow as pa

from braze_assets import tables
from braze_assets.attributes import catalogue
from braze_assets.attributes.config import AttributeMapping, DestinationConfig
from braze_assets.attributes.fields import STANDARD_FIELDS, alias_key
from braze_assets.attributes.normalise import TEXT_CHECKS
from braze_assets.attributes.report import AttributesReport
from braze_assets.attributes.serialise import canonical_json, payload_json
from braze_assets.attributes.types import source_family
from braze_assets.attributes.value_checks import (
    OUTCOMES_ARROW,
    ValueChecks,
    check_kind,
    outcome_batches,
)
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.warehouse import quote, quote_literal

SOURCE_VIEW = "customer_attribute_source"
ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
REJECTIONS_TABLE = "braze_attribute_rejections"


class AttributeBuildError(ValueError):
    """An attribute's expression does not run against the warehouse (names destination and attribute)."""


def build_attribute_source_view(con, carried: Iterable[str] = ()) -> list[str]:
    """(Re)create the view; returns the catalogue columns filled with typed NULLs ("table.column").

    Tables that do not exist yet (transactions or engagement not built) contribute their catalogue
    columns as typed NULLs so attribute expressions still bind. `carried` are the customer 360's
    attribute-tagged source columns (see attributes.config.carried_columns). `con` is an Engine
    (or a DuckDB connection, which is wrapped).
    """
    con = as_engine(con)
    c360 = con.columns(tables.CUSTOMER_360) if con.table_exists(tables.CUSTOMER_360) else []
    if not c360:
        raise ValueError(
            "table customer_360 does not exist; materialize customer_360 before the attributes"
        )
    expected = {
        tables.CUSTOMER_360: {**catalogue.CUSTOMER_360, **{c: "VARCHAR" for c in carried}},
        tables.TRANSACTION_ATTRIBUTES: catalogue.TRANSACTION_ATTRIBUTES,
        tables.ENGAGEMENT_ATTRIBUTES: catalogue.ENGAGEMENT_ATTRIBUTES,
    }
    present = {name.lower() for name in c360}
    select = [f"c.{quote(name)}" for name in c360]
    filled: list[str] = []
    joins: list[str] = []
    links = {
        tables.TRANSACTION_ATTRIBUTES: (
            "t",
            "CAST(t.customer_id AS VARCHAR) = CAST(c.customer_id AS VARCHAR)",
            "customer_id",
        ),
        tables.ENGAGEMENT_ATTRIBUTES: (
            "e",
            "CAST(e.external_user_id AS VARCHAR) = CAST(c.external_id AS VARCHAR)",
            "external_user_id",
        ),
    }
    for table, columns in expected.items():
        actual = (
            c360
            if table == tables.CUSTOMER_360
            else con.columns(table)
            if con.table_exists(table)
            else []
        )
        if table != tables.CUSTOMER_360:
            alias, condition, key = links[table]
            joinable = key in actual and (
                "external_id" in c360 if alias == "e" else "customer_id" in c360
            )
            if joinable:
                joins.append(f"LEFT JOIN {quote(table)} {alias} ON {condition}")
                for name in actual:
                    if name.lower() not in present:
                        select.append(f"{alias}.{quote(name)}")
                        present.add(name.lower())
        for name, duckdb_type in columns.items():
            if name.lower() not in present:
                select.append(f"CAST(NULL AS {duckdb_type}) AS {quote(name)}")
                present.add(name.lower())
                filled.append(f"{table}.{name}")
    con.create_view(
        SOURCE_VIEW, f"SELECT {', '.join(select)} FROM customer_360 c " + " ".join(joins)
    )
    return filled


def _source_sql(mapping: AttributeMapping) -> str:
    return quote(mapping.column) if mapping.column is not None else f"({mapping.sql})"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return quote_literal(value)
    return str(value)


def _typed_sql(mapping: AttributeMapping, source: str, source_type: str) -> str:
    """SQL giving the attribute's value in its declared type (NULL where the cast fails)."""
    declared = mapping.attribute_type
    transform = mapping.transform
    if transform is None:
        return f"TRY_CAST({source} AS {declared.duckdb})"
    number = (
        source
        if source_family(source_type) in ("integer", "fractional")
        else f"TRY_CAST({source} AS DOUBLE)"
    )
    if transform.round is not None:
        step = transform.round.step
        if step is None:
            value = f"ROUND({number}, {transform.round.digits})"
        else:
            places = max(0, -Decimal(step).normalize().as_tuple().exponent)
            value = f"ROUND(ROUND({number} / {step}) * {step}, {places})"
        return f"TRY_CAST({value} AS {declared.duckdb})"
    bucket = transform.bucket
    cases = " ".join(
        f"WHEN {number} < {threshold} THEN {_literal(label)}"
        for threshold, label in zip(bucket.thresholds, bucket.labels)
    )
    value = f"CASE WHEN {number} IS NULL THEN NULL {cases} ELSE {_literal(bucket.labels[-1])} END"
    return f"TRY_CAST({value} AS {declared.duckdb})"


def _describe(con: Engine, destination: DestinationConfig, mapping: AttributeMapping) -> str:
    try:
        return con.column_types(f"SELECT {_source_sql(mapping)} AS v FROM {SOURCE_VIEW}")["v"]
    except con.errors as error:
        where = f"column {mapping.column!r}" if mapping.column else f"sql {mapping.sql!r}"
        first = str(error).splitlines()[0]
        raise AttributeBuildError(
            f"destination {destination.name!r}, attribute {mapping.name!r}: {where} does not run on "
            f"{SOURCE_VIEW}: {first}"
        ) from None


def _flag(reason: pl.Series, bad: pl.Series, text: str | pl.Expr) -> pl.Series:
    """Add `text` as the reason where `bad` holds; a row keeps its first reason."""
    text = pl.lit(text) if isinstance(text, str) else text
    return pl.select(
        pl.when(pl.lit(reason).is_null() & pl.lit(bad).fill_null(False))
        .then(text)
        .otherwise(pl.lit(reason))
    ).to_series()


def _runtime_error(con: Engine, destination: DestinationConfig, error: Exception) -> Exception:
    """Name the attribute whose expression fails on some row (e.g. a CAST that should be TRY_CAST)."""
    for mapping in destination.attributes:
        try:
            con.fetch(f"SELECT count({_source_sql(mapping)}) FROM {SOURCE_VIEW}")
        except con.errors as own:
            return AttributeBuildError(
                f"destination {destination.name!r}, attribute {mapping.name!r}: sql {mapping.sql or mapping.column!r} "
                f"fails on some rows ({str(own).splitlines()[0]}); use TRY_CAST or guard the expression"
            )
    return AttributeBuildError(f"destination {destination.name!r}: {str(error).splitlines()[0]}")


def _validate(
    mapping: AttributeMapping,
    values: pl.Series,
    raw: pl.Series,
    *,
    checked: tuple[pl.Series, pl.Series] | None,
    today: dt.date,
) -> tuple[pl.Series, pl.Series]:
    """(valid values with invalid ones set to NULL, reason per row or NULL). `checked` is the
    standard field's check of each value (normalised, reason), looked up per distinct value."""
    declared = mapping.attribute_type
    failed = raw.is_not_null() & values.is_null()
    reason = pl.repeat(None, len(values), dtype=pl.String, eager=True).alias("reason")
    if declared.is_numeric and not mapping.transform:
        # A number that parses but does not fit (decimal precision, BIGINT) is out of range, not unreadable.
        reason = _flag(
            reason,
            failed & raw.cast(pl.Float64, strict=False).is_not_null(),
            f"out of range for {declared}",
        )
    reason = _flag(
        reason,
        failed,
        "cannot be read as a number" if mapping.transform else f"cannot be read as {declared}",
    )
    field = STANDARD_FIELDS.get(mapping.name)
    if declared.kind == "float":
        reason = _flag(reason, ~values.is_finite(), "not a finite number")
    elif declared.kind in ("date", "datetime"):
        if (
            declared.kind == "datetime"
            and isinstance(values.dtype, pl.Datetime)
            and values.dtype.time_zone
        ):
            values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        year = values.dt.year()
        reason = _flag(reason, (year < 1) | (year > 9999), "outside 0001-01-01..9999-12-31")
        if field is not None and field.check == "dob":
            reason = _flag(reason, values > today, "date of birth in the future")
    elif declared.is_text:
        if checked is not None:
            values, semantic = checked
            reason = reason.fill_null(semantic)
        chars = values.str.len_chars()
        limit = declared.max_chars
        what = (
            f"varchar({limit})"
            if declared.kind == "varchar"
            else f"Braze's {limit}-character limit"
        )
        reason = _flag(
            reason, chars > limit, pl.format(f"{{}} characters, over {what}", pl.lit(chars))
        )
    reason = reason.alias("reason")
    return values.zip_with(
        reason.is_null(), pl.repeat(None, len(values), dtype=values.dtype, eager=True)
    ), reason


def _identifier_sql(destination: DestinationConfig, alias_label: str | None) -> str:
    """The profile's identifier over the destination's identifier columns."""
    if destination.identifier == "user_alias":
        return (
            "CASE WHEN alias_name IS NOT NULL AND alias_label IS NOT NULL "
            "THEN alias_label || ':' || alias_name END"
        )
    column = quote(destination.identifier)
    if alias_label is not None and destination.identifier == "external_id":
        # No external id yet: the customer's alias profile (see fields.ALIAS_KEY_PREFIX).
        return f"coalesce({column}, {quote_literal(alias_key(alias_label, ''))} || customer_id)"
    return column


def _checked_fields(destination: DestinationConfig) -> dict[int, str]:
    """Attribute index -> the standard field's per-value check, for text attributes that have one."""
    checked = {}
    for i, mapping in enumerate(destination.attributes):
        field = STANDARD_FIELDS.get(mapping.name)
        if mapping.attribute_type.is_text and field is not None and field.check in TEXT_CHECKS:
            checked[i] = field.check
    return checked


def _validated(destination: DestinationConfig, today: dt.date):
    """Batch function: every attribute's valid value (v_i) and rejection reason (reason_i)."""
    checked = _checked_fields(destination)
    outputs = list(destination.identifier_columns)

    def run(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        columns = [frame["customer_id"], frame["identifier"], *(frame[o] for o in outputs)]
        for i, mapping in enumerate(destination.attributes):
            values, reason = _validate(
                mapping,
                frame[f"val_{i}"],
                frame[f"raw_{i}"],
                checked=(frame[f"norm_{i}"], frame[f"sem_{i}"]) if i in checked else None,
                today=today,
            )
            columns += [frame[f"raw_{i}"], values.alias(f"v_{i}"), reason.alias(f"reason_{i}")]
        return pl.DataFrame(columns).to_arrow()

    return run


def _validated_schema(
    destination: DestinationConfig, kept: pa.Schema, checked: dict[int, str]
) -> pa.Schema:
    fields = [pa.field("customer_id", pa.string()), pa.field("identifier", pa.string())]
    fields += [kept.field(o) for o in destination.identifier_columns]
    for i, mapping in enumerate(destination.attributes):
        kind = mapping.attribute_type.kind
        value = (
            pa.string()
            if i in checked
            else pa.timestamp("us")  # validated datetimes are naive UTC
            if kind == "datetime"
            else kept.field(f"val_{i}").type
        )
        fields += [
            pa.field(f"raw_{i}", pa.string()),
            pa.field(f"v_{i}", value),
            pa.field(f"reason_{i}", pa.string()),
        ]
    return pa.schema(fields)


def _rejection_sql(
    name: str, table: str, attribute: str, value: str, reason: str, where: str
) -> str:
    return (
        f"SELECT {quote_literal(name)} AS destination, customer_id, identifier, "
        f"{attribute} AS attribute, {value} AS value, {reason} AS reason FROM {table} WHERE {where}"
    )


class _Build:
    """One build's temp names (dropped at the end) and the per-destination queries it wrote."""

    def __init__(self, con: Engine):
        self.con = con
        self.temps: list[str] = []
        self.mapped: list[str] = []
        self.rows: list[str] = []
        self.rejections: list[str] = []

    def temp(self, name: str, query: str) -> str:
        self.con.create_temp(name, query)
        self.temps.append(name)
        return name

    def batches(self, name: str, query: str, fn, schema: pa.Schema) -> str:
        self.con.map_batches(name, query, fn, schema)
        self.mapped.append(name)
        return name

    def close(self) -> None:
        for name in self.temps:
            self.con.drop_temp(name)
        for name in self.mapped:
            self.con.unregister(name)


def _build_destination(
    build: _Build,
    index: int,
    destination: DestinationConfig,
    today: dt.date,
    checks: ValueChecks,
    report: AttributesReport,
    alias_label: str | None = None,
) -> None:
    con, name = build.con, destination.name
    parts = ["CAST(customer_id AS VARCHAR) AS customer_id"]
    for output, column in destination.identifier_columns.items():
        parts.append(f"NULLIF(TRIM(CAST({quote(column)} AS VARCHAR)), '') AS {quote(output)}")
    for i, mapping in enumerate(destination.attributes):
        source = _source_sql(mapping)
        source_type = _describe(con, destination, mapping)
        parts.append(f"TRY_CAST({source} AS VARCHAR) AS raw_{i}")
        parts.append(f"{_typed_sql(mapping, source, source_type)} AS val_{i}")
    try:
        typed = build.temp(f"_bca_typed_{index}", f"SELECT {', '.join(parts)} FROM {SOURCE_VIEW}")
    except con.errors as error:
        raise _runtime_error(con, destination, error) from None
    identified = (
        f"SELECT t.*, {_identifier_sql(destination, alias_label)} AS identifier FROM {typed} t"
    )
    kind = destination.identifier
    if kind in ("email", "phone"):
        # An email or phone identifier in the form Braze matches (normalised email, E.164 phone);
        # one that cannot be brought into it is rejected under its raw text.
        contact = build.batches(
            f"_bca_contact_{index}",
            f"SELECT DISTINCT {quote_literal(kind)} AS kind, identifier AS value "
            f"FROM ({identified}) WHERE identifier IS NOT NULL",
            outcome_batches({kind: (kind, destination.phone_region)}),
            OUTCOMES_ARROW,
        )
        normalised = "CASE WHEN l.reason IS NULL THEN l.normalised ELSE i.identifier END"
        select = ", ".join(
            f"{normalised if c in (kind, 'identifier') else 'i.' + quote(c)} AS {quote(c)}"
            for c in [*con.columns(typed), "identifier"]
        )
        identified = (
            f"SELECT {select}, l.reason AS ident_reason FROM ({identified}) i "
            f"LEFT JOIN {contact} l ON l.value = i.identifier"
        )
    else:
        identified = f"SELECT *, CAST(NULL AS VARCHAR) AS ident_reason FROM ({identified})"
    identified = build.temp(f"_bca_identified_{index}", identified)
    build.rejections.append(
        _rejection_sql(
            name,
            identified,
            quote_literal(kind),
            "identifier",
            "'identifier ' || ident_reason",
            "ident_reason IS NOT NULL",
        )
    )
    # One Braze profile must get one object: an identifier shared by several customers is held back.
    shared = build.temp(
        f"_bca_shared_{index}",
        f"SELECT *, count(*) OVER (PARTITION BY identifier) AS shared FROM {identified} "
        "WHERE ident_reason IS NULL AND identifier IS NOT NULL",
    )
    build.rejections.append(
        _rejection_sql(
            name,
            shared,
            quote_literal(kind),
            "identifier",
            "'identifier shared by ' || CAST(shared AS VARCHAR) || ' customers'",
            "shared > 1",
        )
    )
    checked = _checked_fields(destination)
    kinds = {i: check_kind(check, destination.phone_region) for i, check in checked.items()}
    wanted: dict[str, tuple[str, str, list[str]]] = {}
    for i, kind_i in kinds.items():
        entry = wanted.setdefault(kind_i, (checked[i], destination.phone_region, []))
        entry[2].append(f"SELECT val_{i} AS value FROM {shared} WHERE shared = 1")
    joins, picks = [], []
    if wanted:
        lookup = checks.lookup(wanted, name=f"_bca_checks_{index}")
        for i, kind_i in kinds.items():
            joins.append(
                f"LEFT JOIN {lookup} c{i} ON c{i}.kind = {quote_literal(kind_i)} "
                f"AND c{i}.value = k.val_{i}"
            )
            picks.append(f"c{i}.normalised AS norm_{i}, c{i}.reason AS sem_{i}")
    kept = (
        f"SELECT k.*{''.join(', ' + p for p in picks)} FROM {shared} k {' '.join(joins)} "
        "WHERE k.shared = 1"
    )
    valid = build.batches(
        f"_bca_valid_{index}",
        kept,
        _validated(destination, today),
        _validated_schema(destination, con.arrow_schema(kept), checked),
    )
    for i, mapping in enumerate(destination.attributes):
        build.rejections.append(
            _rejection_sql(
                name,
                valid,
                quote_literal(mapping.name),
                f"raw_{i}",
                f"reason_{i}",
                f"reason_{i} IS NOT NULL",
            )
        )
    counts = con.fetch(
        "SELECT "
        + ", ".join(
            [
                f"(SELECT count(*) FROM {identified} WHERE ident_reason IS NULL AND identifier IS NULL)",
                f"(SELECT count(*) FROM {shared} WHERE shared > 1)",
                "count(*)",
                *(f"count(v_{i}), count(reason_{i})" for i in range(len(destination.attributes))),
            ]
        )
        + f" FROM {valid}"
    )[0]
    report.without_identifier[name], report.duplicate_identifiers[name], rows = counts[:3]
    for i, mapping in enumerate(destination.attributes):
        values, invalid = counts[3 + 2 * i], counts[4 + 2 * i]
        report.attributes.append(
            {
                "destination": name,
                "attribute": mapping.name,
                "type": mapping.type,
                "values": values,
                "nulls": rows - values - invalid,
                "invalid": invalid,
            }
        )
    report.rows[name] = rows
    columns = ["customer_id", "identifier", *map(quote, destination.identifier_columns)]
    columns += [f"v_{i} AS {quote(m.name)}" for i, m in enumerate(destination.attributes)]
    build.rows.append(
        f"SELECT {quote_literal(name)} AS destination, {', '.join(columns)} FROM {valid}"
    )
    if report.sample_payload is None and rows:
        # Show the fullest profile: the sample is there to show what a real object looks like.
        filled = (
            " + ".join(
                f"CAST(v_{i} IS NOT NULL AS INTEGER)" for i in range(len(destination.attributes))
            )
            or "0"
        )
        sample = pl.from_arrow(
            con.read_arrow(f"{build.rows[-1]} ORDER BY {filled} DESC, customer_id LIMIT 1")
        )
        report.sample_payload = _sample_payload(destination, sample)


def _sample_payload(destination: DestinationConfig, frame: pl.DataFrame) -> str | None:
    if frame.is_empty():
        return None
    row = frame.row(0, named=True)
    texts = {m.name: canonical_json(m, frame[m.name]).item() for m in destination.attributes}
    return payload_json(destination, row, texts)


_EMPTY_ROWS = (
    "SELECT CAST(NULL AS VARCHAR) AS destination, CAST(NULL AS VARCHAR) AS customer_id, "
    "CAST(NULL AS VARCHAR) AS identifier WHERE false"
)
_EMPTY_REJECTIONS = (
    "SELECT "
    + ", ".join(
        f"CAST(NULL AS VARCHAR) AS {c}"
        for c in ("destination", "customer_id", "identifier", "attribute", "value", "reason")
    )
    + " WHERE false"
)


def build_braze_customer_attributes(
    con,
    destinations: Sequence[DestinationConfig],
    *,
    carried: Iterable[str] = (),
    today: dt.date | None = None,
    alias_label: str | None = None,
) -> AttributesReport:
    """Rebuild braze_customer_attributes and braze_attribute_rejections for all destinations, on an
    Engine (or a DuckDB connection, which is wrapped). With `alias_label` (sync.lifecycle.aliases
    on), an external_id destination keeps its customers without an external id, keyed by their
    alias profile."""
    con = as_engine(con)
    today = today or dt.datetime.now(dt.UTC).date()
    report = AttributesReport()
    build = _Build(con)
    checks = ValueChecks(con)
    try:
        # Datetimes without a zone mean UTC, as in Braze.
        with con.utc():
            report.filled_columns = build_attribute_source_view(con, carried)
            for index, destination in enumerate(destinations):
                _build_destination(build, index, destination, today, checks, report, alias_label)
            report.parsed_values = checks.computed
            with con.atomic():
                con.write_union(
                    ATTRIBUTES_TABLE, [_EMPTY_ROWS, *build.rows], "destination, identifier"
                )
                con.write_union(
                    REJECTIONS_TABLE,
                    [_EMPTY_REJECTIONS, *build.rejections],
                    "destination, attribute, identifier, customer_id",
                )
                checks.save()
        report.rejections = [
            {"destination": d, "attribute": a, "reason": r, "count": n}
            for d, a, r, n in con.fetch(
                f"SELECT destination, attribute, reason, count(*) AS n FROM {REJECTIONS_TABLE} "
                "GROUP BY ALL ORDER BY destination, attribute, n DESC, reason"
            )
        ]
    finally:
        build.close()
        checks.close()
    return report
