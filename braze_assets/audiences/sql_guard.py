"""Accept an analyst's SQL audience only if it is one read-only query over warehouse tables.

This is the first of two locks: the query is parsed (sqlglot, DuckDB dialect) and anything that
is not a single SELECT / WITH ... SELECT, or that reads files or other databases, is refused
with the audience's name. The second lock is the connection it runs on (see `evaluate.py`):
read-only, with external access disabled, so whatever slips past the parser still cannot write.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from braze_assets.audiences.errors import AudienceError

# Statements and clauses that change state, run commands or reach outside the warehouse.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Drop",
        "Create",
        "Alter",
        "TruncateTable",
        "Copy",
        "Attach",
        "Detach",
        "Pragma",
        "Set",
        "Use",
        "Install",
        "Command",
        "Into",
        "Transaction",
        "Commit",
        "Rollback",
        "Export",
        "Describe",
        "Summarize",
    )
    if hasattr(exp, name)
)
# Functions that read files, URLs or other databases; sqlglot types some, the rest are Anonymous.
_FILE_READER = re.compile(
    r"^(read_\w+|\w+_scan|glob|sniff_csv|query|query_table|parquet_\w+|getenv|duckdb_secrets|"
    r"which_secret|load_aws_credentials|current_setting|duckdb_settings|duckdb_extensions)$"
)
# DuckDB treats a table name that looks like a path or URL as a file to scan ("replacement scan").
_PATHLIKE = re.compile(r"[./\\:*?]")
# Unquoted, `FROM local.csv` parses as table `csv` in schema `local`; with no such schema DuckDB
# scans the file `local.csv`. A qualified name ending in a file extension is refused for that reason.
_FILE_EXTENSIONS = frozenset(
    "csv tsv txt parquet json jsonl ndjson avro arrow ipc feather orc xlsx xls gz zst bz2 "
    "db duckdb sqlite sqlite3 sql".split()
)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _refusal(statement: exp.Expression) -> str | None:
    if not isinstance(statement, exp.Query):
        what = statement.this if isinstance(statement, exp.Command) else statement.key
        return f"only a SELECT or WITH ... SELECT query is allowed, not {str(what).upper()}"
    for node in statement.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            return f"{node.key.upper()} is not allowed in an audience query (read-only SELECT only)"
        if isinstance(node, exp.Func) and _FILE_READER.match(_function_name(node)):
            return (
                f"function {_function_name(node)}() reads outside the warehouse and is not allowed"
            )
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            parts = [part.name for part in node.parts]
            if any(_PATHLIKE.search(part) for part in parts) or (
                len(parts) > 1 and parts[-1].lower() in _FILE_EXTENSIONS
            ):
                return (
                    f"table {'.'.join(parts)!r} looks like a file or URL; "
                    "only warehouse tables can be queried"
                )
    return None


def validate_sql_audience(name: str, sql: str) -> None:
    """Raise AudienceError naming `name` unless `sql` is a single read-only query."""
    if not sql or not sql.strip():
        raise AudienceError(name, "the SQL is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = (
            f" (line {first.get('line')}, column {first.get('col')})" if first.get("line") else ""
        )
        raise AudienceError(
            name, f"cannot parse the SQL{where}: {first.get('description') or exc}"
        ) from None
    if len(statements) != 1:
        raise AudienceError(name, f"exactly one statement is allowed, found {len(statements)}")
    problem = _refusal(statements[0])
    if problem:
        raise AudienceError(name, problem)


# DuckDB types a Spark table cannot hold or that sqlglot writes as something else (a cast to JSON
# becomes to_json, which quotes text instead of parsing it).
_NO_SPARK_TYPES = frozenset(
    {"JSON", "UTINYINT", "USMALLINT", "UINT", "UBIGINT", "UINT128", "UUID", "BIT", "ENUM", "UNION"}
)


def _spark_refusal(statement: exp.Expression) -> str | None:
    from braze_assets.engine.spark_engine import TRANSLATED_FUNCTIONS

    for node in statement.walk():
        if isinstance(node, exp.Anonymous) and node.name.upper() not in TRANSLATED_FUNCTIONS:
            return (
                f"function {node.name.lower()}() is DuckDB's and has no known Spark SQL "
                "translation; use a standard function"
            )
        if isinstance(node, exp.DataType) and node.this.name in _NO_SPARK_TYPES:
            return f"type {node.sql(dialect='duckdb')} has no Spark SQL equivalent"
        if isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() in (
            "ASOF",
            "POSITIONAL",
        ):
            method = str(node.args["method"]).upper()
            return f"{method} JOIN is DuckDB's and has no Spark SQL equivalent"
        if isinstance(node, exp.AggFunc) and isinstance(node.this, exp.Order):
            # sqlglot writes array_agg(a ORDER BY b) as collect_list(a), dropping the order.
            return (
                f"{node.sql_name().lower()}(... ORDER BY ...) would lose its order on Spark; "
                "aggregate without ORDER BY"
            )
        if isinstance(node, exp.Pivot):
            return "PIVOT / UNPIVOT is written differently in Spark SQL; use CASE or UNION ALL"
        if isinstance(node, exp.Columns):
            return "COLUMNS(...) is DuckDB's and has no Spark SQL equivalent; name the columns"
    return None


def validate_spark_sql_audience(name: str, sql: str) -> str:
    """The Spark SQL of an audience `validate_sql_audience` accepted, when it transpiles safely:
    sqlglot's own check (unsupported constructs raise) and the DuckDB-only constructs it would
    copy through unchanged; otherwise AudienceError naming `name` and the construct. Spark's
    analyser checks the result again (names, types) before anything runs."""
    from sqlglot.errors import ErrorLevel, UnsupportedError

    from braze_assets.engine.spark_engine import spark_tree

    statement = sqlglot.parse_one(sql, read="duckdb")
    problem = _spark_refusal(statement)
    if problem:
        raise AudienceError(name, f"cannot run on Spark: {problem}")
    try:
        spark_sql = spark_tree(statement).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except (UnsupportedError, ValueError) as exc:
        raise AudienceError(name, f"cannot run on Spark: {exc}") from None
    try:
        sqlglot.parse_one(spark_sql, read="spark")
    except ParseError as exc:
        raise AudienceError(
            name, f"cannot run on Spark: its Spark SQL does not parse ({exc})"
        ) from None
    return spark_sql
