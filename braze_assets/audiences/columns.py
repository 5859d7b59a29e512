"""Which columns rule segments may use, and what kind of value each holds.

Segments are checked when the config loads, before any warehouse exists, against the static
catalogue of the view `customer_attribute_source` owned by `braze_assets.attributes` (imported
lazily: the config models must not pull in the attributes package). At run time the view's real
column types are read from the warehouse instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import Enum

SOURCE_VIEW = "customer_attribute_source"
ID_COLUMN = "customer_id"


class Kind(str, Enum):  # noqa: UP042 -- str() and f-strings keep the member name
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIMESTAMP_TZ = "timestamp with time zone"
    TEXT_LIST = "list of text"
    OTHER = "other"


_NUMBER = re.compile(
    r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT\d+|FLOAT\d?|DOUBLE|REAL|DECIMAL(\(.*\))?|NUMERIC(\(.*\))?)$"
)


def kind_of(duckdb_type: str) -> Kind:
    """Classify a DuckDB type name (as `information_schema.columns.data_type` spells it)."""
    t = duckdb_type.strip().upper()
    if _NUMBER.match(t):
        return Kind.NUMBER
    if t in ("VARCHAR", "TEXT", "STRING", "UUID") or t.startswith("VARCHAR("):
        return Kind.TEXT
    if t in ("BOOLEAN", "BOOL"):
        return Kind.BOOLEAN
    if t == "DATE":
        return Kind.DATE
    if t in ("TIMESTAMP", "DATETIME", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return Kind.TIMESTAMP
    if t in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return Kind.TIMESTAMP_TZ
    if t in ("VARCHAR[]", "TEXT[]"):
        return Kind.TEXT_LIST
    return Kind.OTHER


def catalogue_types(carried: Iterable[str] = ()) -> Mapping[str, str]:
    """Column -> DuckDB type of `customer_attribute_source` from the attributes catalogue; `carried`
    are the sources' attribute-tagged columns, which the customer 360 carries as text."""
    from braze_assets.attributes.catalogue import source_columns

    return source_columns(carried)


def column_kinds(types: Mapping[str, str] | None = None) -> dict[str, Kind]:
    return {name: kind_of(t) for name, t in (catalogue_types() if types is None else types).items()}
