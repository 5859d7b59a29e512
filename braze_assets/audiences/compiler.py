"""Compile rule segments to parameterised SQL over `customer_attribute_source`.

Values never enter the SQL text: each one becomes a `?` placeholder and is bound by DuckDB, so a
value such as `x'; DROP TABLE customer_360; --` is just a string that matches nobody. Column names
must be columns of the view (checked at config load, and again here) and are quoted. The run's as-of time is a marker in
the parameter list, bound when the query runs, so one compiled segment serves every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from braze_assets.audiences.columns import ID_COLUMN, SOURCE_VIEW, Kind, column_kinds
from braze_assets.audiences.config import AllOf, AnyOf, AudiencesConfig, Condition, MemberOf, Node
from braze_assets.audiences.rules import COMPARISON_OPS, check_condition
from braze_assets.warehouse import quote


class _AsOf:
    def __repr__(self) -> str:
        return "AS_OF"


AS_OF = _AsOf()
"""Placeholder for the run's as-of time (naive UTC) in `CompiledSql.params`."""


@dataclass(frozen=True)
class CompiledSql:
    sql: str
    params: list[Any] = field(default_factory=list)

    def __add__(self, other: CompiledSql | str) -> CompiledSql:
        if isinstance(other, str):
            return CompiledSql(self.sql + other, self.params)
        return CompiledSql(self.sql + other.sql, [*self.params, *other.params])

    def bind(self, as_of: datetime) -> list[Any]:
        when = as_utc(as_of)
        return [when if p is AS_OF else p for p in self.params]


def as_utc(moment: datetime) -> datetime:
    """Naive UTC, the form every timestamp comparison in the warehouse uses."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _bindable(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


def _join(parts: list[CompiledSql], glue: str) -> CompiledSql:
    out = CompiledSql("(")
    for i, part in enumerate(parts):
        out = out + (glue if i else "") + part
    return out + ")"


def _condition(node: Condition, kinds: Mapping[str, Kind]) -> CompiledSql:
    value = check_condition(node.column, node.op, node.value, kinds)
    kind = kinds[node.column]
    col = (
        f"timezone('UTC', {quote(node.column)})"
        if kind is Kind.TIMESTAMP_TZ
        else quote(node.column)
    )
    op = node.op
    if op in COMPARISON_OPS:
        sql_op = {"=": "=", "!=": "IS DISTINCT FROM"}.get(op, op)
        return CompiledSql(f"{col} {sql_op} ?", [_bindable(value)])
    if op in ("is null", "is not null"):
        return CompiledSql(f"{col} {op.upper()}")
    if op in ("in", "not in"):
        marks = ", ".join("?" for _ in value)
        sql = f"{col} IN ({marks})" if op == "in" else f"({col} IS NULL OR {col} NOT IN ({marks}))"
        return CompiledSql(sql, [_bindable(v) for v in value])
    if op == "between":
        return CompiledSql(f"{col} BETWEEN ? AND ?", [_bindable(v) for v in value])
    if op == "contains":
        fn = "list_contains" if kind is Kind.TEXT_LIST else "contains"
        return CompiledSql(f"{fn}({col}, ?)", [value])
    if op == "starts with":
        return CompiledSql(f"starts_with({col}, ?)", [value])
    if kind is Kind.DATE:  # within last days
        return CompiledSql(
            f"{col} BETWEEN CAST(? AS DATE) - CAST(? AS INTEGER) AND CAST(? AS DATE)",
            [AS_OF, value, AS_OF],
        )
    return CompiledSql(
        f"{col} BETWEEN CAST(? AS TIMESTAMP) - to_days(CAST(? AS INTEGER)) AND CAST(? AS TIMESTAMP)",
        [AS_OF, value, AS_OF],
    )


def _node(node: Node, audiences: AudiencesConfig, kinds: Mapping[str, Kind]) -> CompiledSql:
    if isinstance(node, Condition):
        return _condition(node, kinds)
    if isinstance(node, AllOf):
        return _join([_node(n, audiences, kinds) for n in node.all_of], " AND ")
    if isinstance(node, AnyOf):
        return _join([_node(n, audiences, kinds) for n in node.any_of], " OR ")
    if isinstance(node, MemberOf):
        return (
            CompiledSql(f"{quote(ID_COLUMN)} IN (")
            + audience_ids_sql(node.member_of, audiences, kinds)
            + ")"
        )
    raise TypeError(f"not a segment condition: {node!r}")


_TRAILING = re.compile(r"(?:\s|;|--[^\n]*)+$")


def sql_audience_text(sql: str) -> str:
    """The query without its trailing `;` so it can sit inside a subquery."""
    return _TRAILING.sub("", sql)


def compile_segment(
    name: str, audiences: AudiencesConfig, columns: Mapping[str, str] | None = None
) -> CompiledSql:
    """`SELECT customer_id FROM customer_attribute_source WHERE ...` for rule segment `name`.

    `columns` (column -> DuckDB type) defaults to the attributes catalogue.
    """
    if audiences.segment(name) is None:
        raise KeyError(f"no segment named {name!r}")
    return audience_ids_sql(name, audiences, column_kinds(columns))


def audience_ids_sql(
    name: str, audiences: AudiencesConfig, kinds: Mapping[str, Kind]
) -> CompiledSql:
    """A query returning the customer ids of a segment or SQL audience, usable as a subquery."""
    segment = audiences.segment(name)
    if segment is not None:
        select = CompiledSql(f"SELECT {quote(ID_COLUMN)} FROM {quote(SOURCE_VIEW)} WHERE ")
        return select + _node(segment.where, audiences, kinds)
    sql_audience = audiences.sql_audience(name)
    if sql_audience is None:
        raise KeyError(f"no segment or SQL audience named {name!r}")
    return CompiledSql(
        f"SELECT {quote(ID_COLUMN)} FROM (\n{sql_audience_text(sql_audience.sql)}\n) AS {quote(name)}"
    )
