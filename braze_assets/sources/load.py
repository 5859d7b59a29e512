"""Load a declared source file into `raw_<name>` without judging its values.

Every column is read as text so a junk value can never fail the load or be silently coerced;
standardisation decides later what is junk and reports it. `_row_number` keeps the file's line so
later errors can point at the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from braze_assets.warehouse import quote, quote_literal, replace_table, row_count

SUPPORTED = (".csv", ".csv.gz", ".tsv", ".parquet")


class SourceError(ValueError):
    """A source file cannot be loaded as declared; names the source, file and column."""


@dataclass(frozen=True)
class LoadReport:
    table: str
    path: Path
    rows: int
    columns: list[str]
    empty_columns: list[str]
    duplicate_keys: int


def resolve_path(path: str, data_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else data_dir / candidate


def _reader(path: Path) -> str:
    name = path.name.lower()
    literal = quote_literal(str(path))
    if name.endswith(".parquet"):
        return f"read_parquet({literal})"
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return f"read_csv({literal}, all_varchar = true, header = true, auto_detect = true)"
    raise SourceError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)}")


def load_table(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    table: str,
    path: Path,
    required_columns: list[str],
    primary_key: str,
) -> LoadReport:
    if not path.exists():
        raise SourceError(
            f"source {source!r}: file {path} does not exist (run `braze-assets generate` for the demo data)"
        )
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_reader(path)}").fetchall()
    except duckdb.Error as exc:
        raise SourceError(f"source {source!r}: cannot read {path}: {exc}") from None
    columns = [row[0] for row in described]
    missing = [c for c in required_columns if c not in columns]
    if missing:
        raise SourceError(
            f"source {source!r}: column(s) {', '.join(missing)} declared in the config are missing from {path} "
            f"(the file has: {', '.join(columns)})"
        )
    casts = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in columns)
    replace_table(
        con,
        table,
        f"SELECT {casts}, ? AS _source_file, CAST(row_number() OVER () AS BIGINT) + 1 AS _row_number FROM {_reader(path)}",
        [str(path)],
    )
    rows = row_count(con, table)
    if rows == 0:
        raise SourceError(f"source {source!r}: {path} has no rows")
    counts = con.execute(
        "SELECT "
        + ", ".join(f"count(NULLIF(trim({quote(c)}), ''))" for c in required_columns)
        + f" FROM {quote(table)}"
    ).fetchone()
    empty = [c for c, n in zip(required_columns, counts) if n == 0]
    duplicates = con.execute(
        f"SELECT count(*) - count(DISTINCT {quote(primary_key)}) FROM {quote(table)}"
    ).fetchone()[0]
    return LoadReport(table, path, rows, columns, empty, duplicates)
