"""Build `customer_attribute_source` (the view every attribute expression reads) and
`braze_customer_attributes` (one row per Braze profile per destination, typed, validated).

Casting and transforms run in DuckDB; per-row validation runs in polars over the fetched columns.
A value that cannot be sent is set to NULL in the table and written to `braze_attribute_rejections`
with its reason: bad rows never fail the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.attributes import catalogue
from braze_assets.attributes.config import AttributeMapping, DestinationConfig
from braze_assets.attributes.fields import STANDARD_FIELDS, alias_key
from braze_assets.attributes.normalise import TEXT_CHECKS, apply_lookup, outcomes
from braze_assets.attributes.report import AttributesReport
from braze_assets.attributes.serialise import canonical_json, payload_json
from braze_assets.attributes.types import source_family
from braze_assets.attributes.value_checks import ValueChecks
from braze_assets.warehouse import quote, quote_literal, table_columns, transaction

SOURCE_VIEW = "customer_attribute_source"
ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
REJECTIONS_TABLE = "braze_attribute_rejections"
_REJECTION_SCHEMA = {
    name: pl.String
    for name in ("destination", "customer_id", "identifier", "attribute", "value", "reason")
}


class AttributeBuildError(ValueError):
    """An attribute's expression does not run against the warehouse (names destination and attribute)."""


def build_attribute_source_view(
    con: duckdb.DuckDBPyConnection, carried: Iterable[str] = ()
) -> list[str]:
    """(Re)create the view; returns the catalogue columns filled with typed NULLs ("table.column").

    Tables that do not exist yet (transactions or engagement not built) contribute their catalogue
    columns as typed NULLs so attribute expressions still bind. `carried` are the customer 360's
    attribute-tagged source columns (see attributes.config.carried_columns).
    """
    c360 = table_columns(con, tables.CUSTOMER_360)
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
        actual = c360 if table == tables.CUSTOMER_360 else table_columns(con, table)
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
    con.execute(
        f"CREATE OR REPLACE VIEW {SOURCE_VIEW} AS SELECT {', '.join(select)} FROM customer_360 c "
        + " ".join(joins)
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


def _describe(
    con: duckdb.DuckDBPyConnection, destination: DestinationConfig, mapping: AttributeMapping
) -> str:
    try:
        return con.execute(
            f"DESCRIBE SELECT {_source_sql(mapping)} AS v FROM {SOURCE_VIEW}"
        ).fetchall()[0][1]
    except duckdb.Error as error:
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


def _runtime_error(
    con: duckdb.DuckDBPyConnection, destination: DestinationConfig, error: duckdb.Error
) -> Exception:
    """Name the attribute whose expression fails on some row (e.g. a CAST that should be TRY_CAST)."""
    for mapping in destination.attributes:
        try:
            con.execute(f"SELECT count({_source_sql(mapping)}) FROM {SOURCE_VIEW}").fetchall()
        except duckdb.Error as own:
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
    checks: ValueChecks,
    phone_region: str,
    today: dt.date,
) -> tuple[pl.Series, pl.Series]:
    """(valid values with invalid ones set to NULL, reason per row or NULL)."""
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
        if field is not None and field.check in TEXT_CHECKS:
            values, semantic = checks.normalise(field.check, values, phone_region=phone_region)
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


def _identifier(
    destination: DestinationConfig, frame: pl.DataFrame, alias_label: str | None = None
) -> pl.Series:
    if destination.identifier == "user_alias":
        name, label = frame["alias_name"], frame["alias_label"]
        return (
            pl.select(
                pl.when(pl.lit(name).is_not_null() & pl.lit(label).is_not_null()).then(
                    pl.concat_str([pl.lit(label), pl.lit(":"), pl.lit(name)])
                )
            )
            .to_series()
            .alias("identifier")
        )
    identifier = frame[destination.identifier].alias("identifier")
    if alias_label is not None and destination.identifier == "external_id":
        # No external id yet: the customer's alias profile (see fields.ALIAS_KEY_PREFIX).
        fallback = alias_key(alias_label, "") + frame["customer_id"]
        return identifier.fill_null(fallback).alias("identifier")
    return identifier


def _contact_identifiers(
    destination: DestinationConfig, frame: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An email or phone identifier in the form Braze matches (normalised email, E.164 phone);
    rows whose identifier cannot be brought into it are taken out as rejections."""
    kind = destination.identifier
    if kind not in ("email", "phone"):
        return frame, pl.DataFrame(schema=_REJECTION_SCHEMA)
    raw = frame["identifier"]
    lookup = outcomes(
        kind, raw.drop_nulls().unique().to_list(), phone_region=destination.phone_region
    )
    normalised, reason = apply_lookup(raw, lookup)
    bad = reason.is_not_null()
    rejected = pl.DataFrame(
        {
            "destination": destination.name,
            "customer_id": frame["customer_id"].filter(bad),
            "identifier": raw.filter(bad),
            "attribute": kind,
            "value": raw.filter(bad),
            "reason": ("identifier " + reason.filter(bad)),
        },
        schema=_REJECTION_SCHEMA,
    )
    kept = frame.with_columns(normalised.alias("identifier"), normalised.alias(kind)).filter(~bad)
    return kept, rejected


def _build_destination(
    con: duckdb.DuckDBPyConnection,
    destination: DestinationConfig,
    today: dt.date,
    checks: ValueChecks,
    report: AttributesReport,
    alias_label: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    parts = ["CAST(customer_id AS VARCHAR) AS customer_id"]
    for output, column in destination.identifier_columns.items():
        parts.append(f"NULLIF(TRIM(CAST({quote(column)} AS VARCHAR)), '') AS {quote(output)}")
    for i, mapping in enumerate(destination.attributes):
        source = _source_sql(mapping)
        source_type = _describe(con, destination, mapping)
        parts.append(f"TRY_CAST({source} AS VARCHAR) AS raw_{i}")
        parts.append(f"{_typed_sql(mapping, source, source_type)} AS val_{i}")
    try:
        frame = con.execute(f"SELECT {', '.join(parts)} FROM {SOURCE_VIEW} ORDER BY 1").pl()
    except duckdb.Error as error:
        raise _runtime_error(con, destination, error) from None
    frame = frame.with_columns(_identifier(destination, frame, alias_label))
    frame, invalid = _contact_identifiers(destination, frame)

    report.without_identifier[destination.name] = int(frame["identifier"].null_count())
    frame = frame.filter(pl.col("identifier").is_not_null())
    # One Braze profile must get one object: an identifier shared by several customers is held back.
    shared = pl.col("identifier").count().over("identifier")
    duplicated = frame.filter(shared > 1)
    frame = frame.filter(shared == 1)
    report.duplicate_identifiers[destination.name] = duplicated.height
    rejections = [
        invalid,
        duplicated.select(
            pl.lit(destination.name).alias("destination"),
            "customer_id",
            "identifier",
            pl.lit(destination.identifier).alias("attribute"),
            pl.col("identifier").alias("value"),
            pl.format(
                "identifier shared by {} customers", pl.col("identifier").count().over("identifier")
            ).alias("reason"),
        ),
    ]

    columns = [frame["customer_id"], frame["identifier"]]
    columns += [frame[output] for output in destination.identifier_columns]
    for i, mapping in enumerate(destination.attributes):
        values, reason = _validate(
            mapping,
            frame[f"val_{i}"],
            frame[f"raw_{i}"],
            checks=checks,
            phone_region=destination.phone_region,
            today=today,
        )
        columns.append(values.alias(mapping.name))
        bad = reason.is_not_null()
        rejections.append(
            pl.DataFrame(
                {
                    "destination": destination.name,
                    "customer_id": frame["customer_id"].filter(bad),
                    "identifier": frame["identifier"].filter(bad),
                    "attribute": mapping.name,
                    "value": frame[f"raw_{i}"].filter(bad),
                    "reason": reason.filter(bad),
                },
                schema=_REJECTION_SCHEMA,
            )
        )
        report.attributes.append(
            {
                "destination": destination.name,
                "attribute": mapping.name,
                "type": mapping.type,
                "values": len(values) - values.null_count(),
                "nulls": values.null_count() - int(bad.sum()),
                "invalid": int(bad.sum()),
            }
        )
    result = pl.DataFrame(columns).select(pl.lit(destination.name).alias("destination"), pl.all())
    report.rows[destination.name] = frame.height
    return result, pl.concat([r.cast(_REJECTION_SCHEMA) for r in rejections])


def _sample_payload(destination: DestinationConfig, frame: pl.DataFrame) -> str | None:
    if frame.is_empty():
        return None
    names = [m.name for m in destination.attributes]
    # Show the fullest profile: the sample is there to show what a real object looks like.
    filled = (
        frame.with_row_index("_i")
        .with_columns(pl.sum_horizontal([pl.col(n).is_not_null() for n in names]).alias("_n"))
        .sort(["_n", "_i"], descending=[True, False])
        .head(1)
    )
    row = filled.row(0, named=True)
    texts = {m.name: canonical_json(m, filled[m.name]).item() for m in destination.attributes}
    return payload_json(destination, row, texts)


def build_braze_customer_attributes(
    con: duckdb.DuckDBPyConnection,
    destinations: Sequence[DestinationConfig],
    *,
    carried: Iterable[str] = (),
    today: dt.date | None = None,
    alias_label: str | None = None,
) -> AttributesReport:
    """Rebuild braze_customer_attributes and braze_attribute_rejections for all destinations.
    With `alias_label` (sync.lifecycle.aliases on), an external_id destination keeps its
    customers without an external id, keyed by their alias profile."""
    today = today or dt.datetime.now(dt.UTC).date()
    report = AttributesReport()
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    # Datetimes without a zone mean UTC, as in Braze.
    con.execute("SET TimeZone = 'UTC'")
    try:
        report.filled_columns = build_attribute_source_view(con, carried)
        checks = ValueChecks(con)
        frames, rejections = [], []
        for destination in destinations:
            frame, rejected = _build_destination(
                con, destination, today, checks, report, alias_label
            )
            frames.append(frame)
            rejections.append(rejected)
            if report.sample_payload is None:
                report.sample_payload = _sample_payload(destination, frame)
    finally:
        con.execute(f"SET TimeZone = '{zone}'")
    report.parsed_values = checks.computed
    base = pl.DataFrame(
        schema={"destination": pl.String, "customer_id": pl.String, "identifier": pl.String}
    )
    table = pl.concat([base, *frames], how="diagonal_relaxed").sort(["destination", "identifier"])
    rejected = pl.concat([pl.DataFrame(schema=_REJECTION_SCHEMA), *rejections]).sort(
        ["destination", "attribute", "identifier"]
    )
    report.rejections = (
        rejected.group_by(["destination", "attribute", "reason"])
        .len("count")
        .sort(["destination", "attribute", "count"], descending=[False, False, True])
        .to_dicts()
    )
    try:
        with transaction(con):
            con.register("_bca_frame", table)
            con.register("_bca_rejections", rejected)
            con.execute(f"CREATE OR REPLACE TABLE {ATTRIBUTES_TABLE} AS SELECT * FROM _bca_frame")
            con.execute(
                f"CREATE OR REPLACE TABLE {REJECTIONS_TABLE} AS SELECT * FROM _bca_rejections"
            )
            checks.save()
    finally:
        con.unregister("_bca_frame")
        con.unregister("_bca_rejections")
    return report
