"""Shared steps of the source tests: demo-shaped records in Postgres and object stores, loads
through Dagster, and the checks every location is held to."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
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
ORDERS_CSV = (
    "order_id,account_id,ordered_at,revenue,items\n"
    "O1,A00001,2024-02-01 10:00:00,12.50,1\nO2,A00002,2024-02-02 11:00:00,,2\n"
    "O3,A00001,2024-02-03 12:00:00,3,\n"
)


def records(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def ecommerce_entry(name: str, **location) -> dict:
    """The demo's ecommerce source, renamed and pointed at another location."""
    entry = demo_config().source("ecommerce").model_dump(exclude_none=True)
    entry.pop("path")
    entry["load"] = {k: v for k, v in entry["load"].items() if v is not None}
    entry.update(name=name, **location)
    return entry


def shop_entry(path: str, *, columns: dict | None = None, **extra):
    """A small customer source `shop` (key `id`, `updated_at`) at `path`, its tagged columns
    `columns` (an email by default)."""
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "shop",
                    "path": path,
                    "primary_key": "id",
                    "updated_at": "updated_at",
                    "columns": columns or {"email": "email"},
                    **extra,
                }
            ]
        }
    ).sources[0]


def project(*sources: dict, keep_demo: bool = False) -> ProjectConfig:
    base = demo_config().model_dump(exclude_none=True)["sources"] if keep_demo else []
    return ProjectConfig.model_validate({"sources": [*base, *sources]})


def export_files(tmp_path: Path, source_csv: Path, upload: Callable[[str, Path], None]) -> int:
    """The CSV as a brand exports it to an object store, through `upload(key, local path)`: split
    in two objects under exports/csv/2024/ with a README.txt beside them that a *.csv glob must not
    match, one Parquet object and one JSON Lines object. Returns the number of records."""
    rows = records(source_csv)
    half = len(rows) // 2
    for part, chunk in enumerate((rows[:half], rows[half:])):
        upload(f"exports/csv/2024/part-{part}.csv", write_csv(tmp_path / f"part{part}.csv", chunk))
    upload("exports/csv/README.txt", source_csv)
    parquet = tmp_path / "accounts.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{source_csv}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
        )
    upload("exports/parquet/accounts.parquet", parquet)
    jsonl = tmp_path / "accounts.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    upload("exports/json/accounts.jsonl", jsonl)
    return len(rows)


def export_entries(store: str) -> list[dict]:
    """Sources `<scheme>_csv` (a glob), `<scheme>_parquet` and `<scheme>_jsonl` reading what
    export_files put under `store` (s3://bucket or gs://bucket)."""
    scheme = store.split(":", 1)[0]
    return [
        ecommerce_entry(f"{scheme}_csv", path=f"{store}/exports/csv/**/*.csv"),
        ecommerce_entry(f"{scheme}_parquet", path=f"{store}/exports/parquet/accounts.parquet"),
        ecommerce_entry(f"{scheme}_jsonl", path=f"{store}/exports/json/*.jsonl"),
    ]


def assert_same_rows(warehouse: Path, reference: str, names) -> list[tuple]:
    """raw_<name> holds the rows, values, column order and row numbers of raw_<reference>."""
    expected = raw_rows(warehouse, f"raw_{reference}")
    for name in names:
        assert raw_rows(warehouse, f"raw_{name}") == expected, name
    return expected


def assert_glob_read_the_two_parts(warehouse: Path, store: str) -> None:
    scheme = store.split(":", 1)[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        files = con.execute(
            f"SELECT DISTINCT _source_file FROM raw_{scheme}_csv ORDER BY 1"
        ).fetchall()
    assert files == [
        (f"{store}/exports/csv/2024/part-0.csv",),
        (f"{store}/exports/csv/2024/part-1.csv",),
    ]


def txn(name: str, **location) -> dict:
    """A transactions source over ORDERS_CSV's columns, linked to the ecommerce source."""
    return {
        "name": name,
        "primary_key": "order_id",
        "source": "ecommerce",
        "customer_key": "account_id",
        "ordered_at": "ordered_at",
        "revenue": "revenue",
        "items": "items",
        "channel_value": "web",
        **location,
    }


def assert_transactions_load_alike(tmp_path: Path, orders: Path, *locations: dict) -> None:
    """Transactions sources txn_<name> at `locations` (txn() entries) load the rows the local
    ORDERS_CSV file `orders` loads, each in full (they have no updated_at)."""
    config = ProjectConfig.model_validate(
        {
            "sources": [ecommerce_entry("ecommerce", path=ECOMMERCE_CSV)],
            "transactions": [txn("local", path=str(orders)), *locations],
        }
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success
    names = [f"txn_{entry['name']}" for entry in locations]
    assert len(assert_same_rows(warehouse, "txn_local", names)) == 3
    for name in names:
        assert metadata(result, f"raw_{name}")["load_mode"] == "full", name


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
