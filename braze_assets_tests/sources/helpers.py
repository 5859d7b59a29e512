"""Shared steps of the source tests: demo-shaped records in Postgres and S3, and loads through Dagster."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
from dagster_duckdb import DuckDBResource
from psycopg import sql

from braze_assets.config.model import ProjectConfig
from braze_assets.defs.sources.assets import build_source_assets
from braze_assets_tests.identity.fixtures import demo_config

ECOMMERCE_CSV = "sources/ecommerce_accounts.csv"


def ecommerce_entry(name: str, **location) -> dict:
    """The demo's ecommerce source, renamed and pointed at another location."""
    entry = demo_config().source("ecommerce").model_dump(exclude_none=True)
    entry.pop("path")
    entry["load"] = {k: v for k, v in entry["load"].items() if v is not None}
    entry.update(name=name, **location)
    return entry


def project(*sources: dict, keep_demo: bool = False) -> ProjectConfig:
    base = demo_config().model_dump(exclude_none=True)["sources"] if keep_demo else []
    return ProjectConfig.model_validate({"sources": [*base, *sources]})


def pg_table_from_csv(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    csv_path: Path,
    *,
    timestamps: tuple[str, ...] = ("updated_at",),
    primary_key: str | None = "account_id",
) -> list[str]:
    """Create `schema.table` from a CSV: text columns, `timestamps` as timestamp; returns the columns."""
    with csv_path.open(newline="") as fh:
        header = next(csv.reader(fh))
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(c),
            sql.SQL("timestamp" if c in timestamps else "text"),
            sql.SQL(" PRIMARY KEY" if c == primary_key else ""),
        )
        for c in header
    )
    name = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(name, columns))
    with conn.cursor().copy(
        sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(name)
    ) as copy:
        copy.write(csv_path.read_bytes())
    if "updated_at" in header:
        conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(name, sql.Identifier("updated_at")))
    return header


def materialize(
    config: ProjectConfig, warehouse: Path, *, full_reload: bool = False, assets=None
) -> dg.ExecuteInProcessResult:
    run_config = None
    if full_reload:
        run_config = dg.RunConfig(
            ops={f"raw_{s.name}": {"config": {"full_reload": True}} for s in config.sources}
        )
    return dg.materialize(
        assets or build_source_assets(config),
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        run_config=run_config,
    )


def raw_rows(warehouse: Path, table: str, *, exclude=("_source_file",)) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        drop = f" EXCLUDE ({', '.join(exclude)})" if exclude else ""
        return con.execute(f"SELECT *{drop} FROM {table} ORDER BY _row_number").fetchall()


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    materialization = result.asset_materializations_for_node(asset)[0]
    return {k: v.value for k, v in materialization.metadata.items()}
