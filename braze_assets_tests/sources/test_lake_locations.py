"""gs:// objects (CSV glob, Parquet, JSON Lines) on a GCS emulator, and Delta and Iceberg tables,
local and on the moto S3 server, load the same rows into raw_<source> as the local CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets_tests.identity.fixtures import write_demo_sources
from braze_assets_tests.sources.helpers import (
    ECOMMERCE_CSV,
    ecommerce_entry,
    materialize,
    metadata,
    project,
    raw_rows,
)
from braze_assets_tests.sources.lake import (
    arrow_table,
    iceberg_table,
    records,
    upload_gcs,
    write_delta,
)

pytestmark = pytest.mark.integration


def test_gcs_delta_and_iceberg_load_the_same_rows_as_the_csv(
    tmp_path, s3_env, gcs_env, monkeypatch
):
    _, bucket = s3_env
    gcs_bucket = gcs_env
    write_demo_sources(tmp_path, 120)
    source_csv = tmp_path / ECOMMERCE_CSV
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    rows = records(source_csv)

    half = len(rows) // 2
    for part, chunk in enumerate((rows[:half], rows[half:])):
        path = tmp_path / f"part{part}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(chunk)
        upload_gcs(gcs_bucket, f"exports/csv/2024/part-{part}.csv", path)
    upload_gcs(gcs_bucket, "exports/csv/README.txt", source_csv)  # not matched by the glob
    parquet = tmp_path / "accounts.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{source_csv}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
        )
    upload_gcs(gcs_bucket, "exports/parquet/accounts.parquet", parquet)
    jsonl = tmp_path / "accounts.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    upload_gcs(gcs_bucket, "exports/json/accounts.jsonl", jsonl)

    table = arrow_table(rows)
    write_delta(str(tmp_path / "lake" / "accounts"), table)
    write_delta(f"s3://{bucket}/lake/accounts", table)
    local_ice = iceberg_table(tmp_path, f"file://{tmp_path / 'ice'}", table)
    s3_ice = iceberg_table(tmp_path, f"s3://{bucket}/ice", table)

    g = gcs_bucket.name
    config = project(
        ecommerce_entry("local_csv", path=ECOMMERCE_CSV),
        ecommerce_entry("gs_csv", path=f"gs://{g}/exports/csv/**/*.csv"),
        ecommerce_entry("gs_parquet", path=f"gs://{g}/exports/parquet/accounts.parquet"),
        ecommerce_entry("gs_jsonl", path=f"gs://{g}/exports/json/*.jsonl"),
        ecommerce_entry("delta_local", path="lake/accounts", format="delta"),
        ecommerce_entry("delta_s3", path=f"s3://{bucket}/lake/accounts", format="delta"),
        # A table directory (the newest metadata file is found) and a metadata file.
        ecommerce_entry(
            "iceberg_local",
            path=str(Path(local_ice.location().removeprefix("file://")).relative_to(tmp_path)),
            format="iceberg",
        ),
        ecommerce_entry("iceberg_s3", path=s3_ice.metadata_location),
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success

    expected = raw_rows(warehouse, "raw_local_csv")
    assert len(expected) == len(rows) > 50
    for name in (
        "gs_csv",
        "gs_parquet",
        "gs_jsonl",
        "delta_local",
        "delta_s3",
        "iceberg_local",
        "iceberg_s3",
    ):
        assert raw_rows(warehouse, f"raw_{name}") == expected, name

    with duckdb.connect(str(warehouse), read_only=True) as con:
        files = con.execute("SELECT DISTINCT _source_file FROM raw_gs_csv ORDER BY 1").fetchall()
    assert files == [
        (f"gs://{g}/exports/csv/2024/part-0.csv",),
        (f"gs://{g}/exports/csv/2024/part-1.csv",),
    ]
    # Tables load incrementally by default; the first load reads everything.
    for name in ("delta_local", "delta_s3", "iceberg_local", "iceberg_s3"):
        meta = metadata(result, f"raw_{name}")
        assert (meta["load_mode"], meta["rows_read"]) == ("full", len(rows)), name
        assert meta["full_load_reason"] == "first load"
    assert metadata(result, "raw_gs_csv")["load_mode"] == "full"
    assert "watermark" not in metadata(result, "raw_gs_csv")


def test_transactions_load_the_same_rows_from_gcs_delta_and_iceberg(
    tmp_path, s3_env, gcs_env, monkeypatch
):
    _, bucket = s3_env
    write_demo_sources(tmp_path, 30)
    monkeypatch.setenv("BRAZE_ASSETS_DATA_DIR", str(tmp_path))
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,account_id,ordered_at,revenue,items\n"
        "O1,A00001,2024-02-01 10:00:00,12.50,1\nO2,A00002,2024-02-02 11:00:00,,2\n"
        "O3,A00001,2024-02-03 12:00:00,3,\n"
    )
    upload_gcs(gcs_env, "orders/2024/orders.csv", orders)
    table = arrow_table(records(orders), timestamps=("ordered_at",))
    write_delta(f"s3://{bucket}/lake/orders", table)
    write_delta(str(tmp_path / "lake" / "orders"), table)
    ice = iceberg_table(tmp_path, f"s3://{bucket}/ice", table)

    def txn(name: str, **location) -> dict:
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

    config = ProjectConfig.model_validate(
        {
            "sources": [ecommerce_entry("ecommerce", path=ECOMMERCE_CSV)],
            "transactions": [
                txn("local", path=str(orders)),
                txn("gs", path=f"gs://{gcs_env.name}/orders/*/orders.csv"),
                txn("delta_s3", path=f"s3://{bucket}/lake/orders", format="delta"),
                txn("delta_local", path="lake/orders", format="delta"),
                txn("iceberg_s3", path=ice.location(), format="iceberg"),
            ],
        }
    )
    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(config, warehouse)
    assert result.success
    expected = raw_rows(warehouse, "raw_txn_local")
    assert len(expected) == 3
    for name in ("gs", "delta_s3", "delta_local", "iceberg_s3"):
        assert raw_rows(warehouse, f"raw_txn_{name}") == expected, name
        assert metadata(result, f"raw_txn_{name}")["load_mode"] == "full"
