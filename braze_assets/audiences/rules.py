"""What each segment operator accepts: which column kinds, and which values (checked and normalised).

Both the config check and the compiler go through `check_condition`, so a condition that loads is
exactly a condition that compiles, and YAML values (ISO date strings, ints for decimals) are bound
to the query as the Python types DuckDB expects.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from braze_assets.audiences.columns import SOURCE_VIEW, Kind

COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=")
OPS = COMPARISON_OPS + (
    "in",
    "not in",
    "between",
    "is null",
    "is not null",
    "contains",
    "starts with",
    "within last days",
)
_ORDERED = (Kind.NUMBER, Kind.TEXT, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ)
_SCALAR = _ORDERED + (Kind.BOOLEAN,)
_ALLOWED_KINDS: dict[str, tuple[Kind, ...]] = {
    "=": _SCALAR,
    "!=": _SCALAR,
    "<": _ORDERED,
    "<=": _ORDERED,
    ">": _ORDERED,
    ">=": _ORDERED,
    "in": _SCALAR,
    "not in": _SCALAR,
    "between": _ORDERED,
    "is null": tuple(Kind),
    "is not null": tuple(Kind),
    "contains": (Kind.TEXT, Kind.TEXT_LIST),
    "starts with": (Kind.TEXT,),
    "within last days": (Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMP_TZ),
}


def _scalar(kind: Kind, value: Any) -> Any:
    """`value` as the Python type bound for a `kind` column; ValueError if it cannot be one."""
    if (
        kind is Kind.NUMBER
        and isinstance(value, (int, float, Decimal))
        and not isinstance(value, bool)
    ):
        return value
    if kind in (Kind.TEXT, Kind.TEXT_LIST) and isinstance(value, str):
        return value
    if kind is Kind.BOOLEAN and isinstance(value, bool):
        return value
    if kind is Kind.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMP_TZ):
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
    expected = {
        Kind.NUMBER: "a number",
        Kind.TEXT: "text",
        Kind.TEXT_LIST: "text",
        Kind.BOOLEAN: "true or false",
        Kind.DATE: "a date (YYYY-MM-DD)",
        Kind.TIMESTAMP: "a date or timestamp (ISO 8601)",
        Kind.TIMESTAMP_TZ: "a date or timestamp (ISO 8601)",
    }.get(kind, "a comparable value")
    raise ValueError(f"value {value!r} does not fit a {kind.value} column (expected {expected})")


def unknown_column_message(column: str, kinds: Mapping[str, Kind]) -> str:
    close = difflib.get_close_matches(column, list(kinds), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown column {column!r}: not a column of {SOURCE_VIEW}{hint}"


def check_condition(column: str, op: str, value: Any, kinds: Mapping[str, Kind]) -> Any:
    """Check one `column op value` condition; return the value normalised for binding."""
    if column not in kinds:
        raise ValueError(unknown_column_message(column, kinds))
    kind = kinds[column]
    if op not in _ALLOWED_KINDS:
        raise ValueError(f"unknown operator {op!r}; use one of {', '.join(OPS)}")
    if kind not in _ALLOWED_KINDS[op]:
        raise ValueError(
            f"type mismatch: operator {op!r} cannot be used on {column!r}, a {kind.value} column"
        )
    if op in ("is null", "is not null"):
        if value is not None:
            raise ValueError(f"operator {op!r} takes no value")
        return None
    if op == "within last days":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"'within last days' needs a whole number of days >= 0, got {value!r}")
        return value
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"operator {op!r} needs a non-empty list of values")
        return [_scalar(kind, v) for v in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("operator 'between' needs a list of two values [low, high]")
        low, high = (_scalar(kind, v) for v in value)
        if low > high:
            raise ValueError(f"'between' range {value!r} runs backwards (low > high)")
        return [low, high]
    if isinstance(value, (list, dict)) or value is None:
        raise ValueError(f"operator {op!r} needs a single value, got {value!r}")
    return _scalar(kind, value)
