"""Declared attribute types: parsing `decimal(12,2)` / `varchar(40)` and what each type means in
DuckDB (where values are cast and transformed) and polars (where they are validated and serialised).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

KINDS = ("boolean", "date", "datetime", "decimal", "float", "integer", "string", "varchar")
# Braze stores strings of at most 255 characters (keys and values).
MAX_STRING_CHARS = 255
MAX_DECIMAL_PRECISION = 38

_SPEC = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


@dataclass(frozen=True)
class AttributeType:
    kind: str
    precision: int | None = None
    scale: int | None = None
    length: int | None = None

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "varchar":
            return f"varchar({self.length})"
        return self.kind

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("decimal", "float", "integer")

    @property
    def is_text(self) -> bool:
        return self.kind in ("string", "varchar")

    @property
    def max_chars(self) -> int | None:
        return (
            self.length
            if self.kind == "varchar"
            else MAX_STRING_CHARS
            if self.kind == "string"
            else None
        )

    @property
    def duckdb(self) -> str:
        return {
            "boolean": "BOOLEAN",
            "date": "DATE",
            # Datetimes are cast through TIMESTAMPTZ with the session at UTC, then stored naive (UTC).
            "datetime": "TIMESTAMPTZ",
            "decimal": f"DECIMAL({self.precision},{self.scale})",
            "float": "DOUBLE",
            "integer": "BIGINT",
            "string": "VARCHAR",
            "varchar": "VARCHAR",
        }[self.kind]

    @property
    def polars(self) -> pl.DataType:
        if self.kind == "decimal":
            return pl.Decimal(self.precision, self.scale)
        return {
            "boolean": pl.Boolean(),
            "date": pl.Date(),
            "datetime": pl.Datetime("us"),
            "float": pl.Float64(),
            "integer": pl.Int64(),
            "string": pl.String(),
            "varchar": pl.String(),
        }[self.kind]


@lru_cache(maxsize=512)
def parse_type(text: str) -> AttributeType:
    """Parse a declared type; raises ValueError with the accepted spellings."""
    accepted = (
        "boolean, date, datetime, decimal(precision,scale), float, integer, string, varchar(n)"
    )
    match = _SPEC.match(str(text).lower())
    if not match or match.group(1) not in KINDS:
        raise ValueError(f"unknown type {text!r}; use one of {accepted}")
    kind, first, second = match.group(1), match.group(2), match.group(3)
    if kind == "decimal":
        if first is None or second is None:
            raise ValueError(
                f"type {text!r}: decimal needs precision and scale, e.g. decimal(12,2)"
            )
        precision, scale = int(first), int(second)
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
            raise ValueError(
                f"type {text!r}: precision must be 1..{MAX_DECIMAL_PRECISION} and scale at most the precision"
            )
        return AttributeType(kind, precision=precision, scale=scale)
    if kind == "varchar":
        if first is None or second is not None:
            raise ValueError(f"type {text!r}: varchar needs one length, e.g. varchar(40)")
        length = int(first)
        if not 1 <= length <= MAX_STRING_CHARS:
            raise ValueError(f"type {text!r}: Braze strings hold 1..{MAX_STRING_CHARS} characters")
        return AttributeType(kind, length=length)
    if first is not None:
        raise ValueError(f"type {text!r}: {kind} takes no arguments")
    return AttributeType(kind)


# DuckDB source types grouped by what they can become without per-row surprises.
def source_family(duckdb_type: str) -> str:
    t = duckdb_type.upper().strip()
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION", "LIST")):
        return "nested"
    if t == "BOOLEAN":
        return "boolean"
    if t in (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "INT",
        "INT4",
        "INT8",
        "INT2",
        "INT1",
        "LONG",
        "SHORT",
    ):
        return "integer"
    if t.startswith(("DECIMAL", "NUMERIC")):
        return "integer" if re.search(r",\s*0\s*\)$", t) else "fractional"
    if t in ("DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8"):
        return "fractional"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP") or t == "DATETIME":
        return "datetime"
    if t in ("VARCHAR", "TEXT", "STRING", "UUID", "CHAR", "BPCHAR") or t.startswith("VARCHAR"):
        return "text"
    if t == '"NULL"' or t == "NULL":
        return "null"
    return "other"


# Which declared kinds each source family may feed. Text feeds anything: the cast is checked per row.
_COMPATIBLE = {
    "boolean": {"boolean", "string", "varchar"},
    "integer": {"integer", "decimal", "float", "string", "varchar"},
    "fractional": {"decimal", "float", "string", "varchar"},
    "date": {"date", "datetime", "string", "varchar"},
    "datetime": {"datetime", "date", "string", "varchar"},
    "text": set(KINDS),
    "null": set(KINDS),
}


def type_mismatch(
    duckdb_type: str, declared: AttributeType, *, rounded: bool = False
) -> str | None:
    """Why a source of `duckdb_type` cannot feed `declared` (None when it can)."""
    family = source_family(duckdb_type)
    if family == "nested":
        return f"source is {duckdb_type} (a list or struct); map a scalar, e.g. sql: array_to_string(col, ',')"
    allowed = _COMPATIBLE.get(family)
    if allowed is None:
        return f"source type {duckdb_type} is not supported; cast it in an sql: expression"
    if family == "fractional" and declared.kind == "integer":
        return (
            None
            if rounded
            else (
                f"source is {duckdb_type} (fractional) but the type is integer; declare decimal/float or add "
                "transform: {round: {digits: 0}}"
            )
        )
    if declared.kind not in allowed:
        return f"source is {duckdb_type}, which cannot become {declared}"
    return None
