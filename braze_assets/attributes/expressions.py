"""`sql:` attribute expressions: parsed with sqlglot so that a typo in a column name or a stray
statement fails at config load instead of mid-run, and typed where sqlglot can tell.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types

VIEW = "customer_attribute_source"


def parse_expression(sql: str) -> exp.Expression:
    """Parse one scalar expression over the view; ValueError says why it is not one."""
    try:
        parsed = [p for p in sqlglot.parse(sql, read="duckdb") if p is not None]
    except SqlglotError as error:
        raise ValueError(f"sql {sql!r} does not parse: {str(error).splitlines()[0]}") from None
    if len(parsed) != 1:
        raise ValueError(f"sql {sql!r} must be a single expression, not {len(parsed)} statements")
    expression = parsed[0]
    # The expression is placed in a SELECT list over the view: a query inside it would read
    # tables the catalogue cannot check.
    if (
        isinstance(expression, (exp.Query, exp.DDL, exp.DML))
        or expression.find(exp.Query) is not None
    ):
        raise ValueError(f"sql {sql!r} must be an expression over the view's columns, not a query")
    qualified = sorted({c.sql("duckdb") for c in expression.find_all(exp.Column) if c.table})
    if qualified:
        raise ValueError(
            f"sql {sql!r}: write plain column names of {VIEW}, not {', '.join(qualified)}"
        )
    return expression


def referenced_columns(expression: exp.Expression) -> list[str]:
    return sorted({column.name for column in expression.find_all(exp.Column)})


def inferred_type(expression: exp.Expression, columns: dict[str, str]) -> str | None:
    """The expression's DuckDB type as sqlglot infers it, or None when it cannot tell."""
    try:
        query = exp.select(expression.copy().as_("value")).from_(VIEW)
        annotated = annotate_types(query, schema={VIEW: columns}, dialect="duckdb")
        data_type = annotated.selects[0].type
    except (SqlglotError, KeyError, ValueError, TypeError, AttributeError):
        return None
    if data_type is None or data_type.is_type(exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    return data_type.sql("duckdb").upper()


def result_literals(expression: exp.Expression) -> list[str]:
    """String literals a CASE expression can return (its THEN and ELSE values), outermost CASE only."""
    if not isinstance(expression, exp.Case):
        return []
    results = [branch.args.get("true") for branch in expression.args.get("ifs") or []]
    results.append(expression.args.get("default"))
    return [r.this for r in results if isinstance(r, exp.Literal) and r.is_string]
