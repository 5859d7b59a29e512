"""What every Dagster domain shares: the loaded config, the warehouse pool and table metadata."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache

import dagster as dg
import duckdb

from braze_assets import settings
from braze_assets.config import ProjectConfig, load_config
from braze_assets.warehouse import quote, row_count, table_columns

# DuckDB allows one writer process; every asset that writes the warehouse runs in this pool,
# and dagster.yaml limits each pool to one slot.
WAREHOUSE_POOL = "duckdb_warehouse"
OWNERS = ["team:data-platform"]


def warehouse_asset(*kinds: str, **asset_args):
    """`dg.asset` for an asset that writes the DuckDB warehouse: kind duckdb (and `kinds`), the
    project's owners, and the warehouse pool, so it waits for the one writer slot."""
    return dg.asset(kinds={"duckdb", *kinds}, owners=OWNERS, pool=WAREHOUSE_POOL, **asset_args)


@lru_cache(maxsize=1)
def project_config() -> ProjectConfig:
    if not os.environ.get(settings.ENV_CONFIG_DIR):
        # A production deployment that forgot its config must not silently run the demo's.
        dg.get_dagster_logger().warning(
            f"{settings.ENV_CONFIG_DIR} is not set: using the embedded demo config "
            f"({settings.DEMO_CONFIG_DIR}). Set it to your config directory in production."
        )
    return load_config()


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, *, preview_rows: int = 5) -> dict:
    """Row count, schema and a markdown preview, so the UI shows what a table holds."""
    columns = table_columns(con, table)
    rows = row_count(con, table)
    preview = con.execute(f"SELECT * FROM {quote(table)} LIMIT {int(preview_rows)}").pl()
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, data_type) for name, data_type in columns.items()]
        ),
        "table": dg.MetadataValue.text(table),
        # Markdown: the UI shows it inline under [Show Markdown] (tested in ui/test_dagster_ui.py).
        "preview": dg.MetadataValue.md(_markdown(preview)),
    }


# A cell longer than this is cut: the UI table is for reading, the warehouse has the full value.
MAX_CELL = 80


def _cell(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:MAX_CELL]


def table_value(rows: Sequence, columns: Sequence[str]) -> dg.TableMetadataValue:
    """Rows (tuples in column order, or mappings by column) as a table the UI renders and sorts."""
    records = [
        dg.TableRecord(
            {
                c: _cell(row[c] if isinstance(row, Mapping) else row[i])
                for i, c in enumerate(columns)
            }
        )
        for row in rows
    ]
    return dg.MetadataValue.table(
        records=records, schema=dg.TableSchema(columns=[dg.TableColumn(c) for c in columns])
    )


def _markdown(frame) -> str:
    if frame.is_empty():
        return "_empty_"
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "".join(
        "| "
        + " | ".join("" if v is None else str(v).replace("|", "\\|")[:60] for v in row)
        + " |\n"
        for row in frame.iter_rows()
    )
    return header + body
