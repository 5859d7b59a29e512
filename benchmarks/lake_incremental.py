"""Incremental vs full load of a Delta or Iceberg table, or of a Parquet file (issue 18).

A local table of --rows rows (written in 10 commits, so its data files have distinct updated_at
ranges, as an append-mostly table has) is loaded through
`braze_assets.sources.incremental.load_source` into a DuckDB warehouse file:
  1. a full load (the first load, every row read);
  2. --changed-share of the rows changed at the source (not timed): the table deletes their old
     versions and appends the new ones (copy-on-write), the Parquet file is rewritten;
  3. an incremental load (the reader gets the updated_at window as its filter), no key scan;
  4. the same with the key scan (every primary key read to find hard deletes);
  5. a full reload, and a check that it gives the same raw rows as the incremental path.

    .venv/bin/python benchmarks/lake_incremental.py --format delta --rows 1000000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from braze_assets.config.model import ProjectConfig
from braze_assets.sources.incremental import load_source
from braze_assets.warehouse import connect

START = datetime(2024, 1, 1)


def _rows(lo: int, hi: int) -> pa.Table:
    ids = np.arange(lo, hi)
    return pa.table(
        {
            "customer_id": pc.utf8_slice_codeunits(
                pc.binary_join_element_wise("C", pa.array((ids + 10**8).astype(str)), ""), 0, 10
            ),
            "email": pc.binary_join_element_wise(
                "person", pa.array(ids.astype(str)), "@mail.test", ""
            ),
            "city": pa.array(np.where(ids % 2 == 0, "Austin", "Boston")),
            "updated_at": pa.array(
                [START + timedelta(seconds=int(i)) for i in ids], pa.timestamp("us")
            ),
        }
    )


def _config(path: str, fmt: str | None, scan) -> ProjectConfig:
    entry = {
        "name": "crm",
        "path": path,
        "primary_key": "customer_id",
        "updated_at": "updated_at",
        "load": {"mode": "incremental", "late_tolerance_minutes": 0, "key_scan_every_hours": scan},
        "columns": {"email": "email", "city": "city"},
    }
    if fmt:
        entry["format"] = fmt
    return ProjectConfig.model_validate({"sources": [entry]})


def _timed(label, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    extra = f" rows_scanned={result.rows_scanned}" if result.rows_scanned is not None else ""
    print(
        f"{label:<28} {seconds:8.2f} s  mode={result.mode} rows_read={result.rows_read}{extra}"
        + (f" keys_scanned={result.keys_scanned}" if result.keys_scanned is not None else "")
        + (f" files={result.files_read}/{result.files_total}" if result.files_total else "")
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    parser.add_argument("--format", choices=("delta", "iceberg", "parquet"), default="delta")
    args = parser.parse_args()
    n, fmt = args.rows, args.format
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        chunks = [_rows(i * n // 10, (i + 1) * n // 10) for i in range(10)]
        table = None
        if fmt == "delta":
            from deltalake import DeltaTable, write_deltalake

            path = str(tmp / "customers")
            for chunk in chunks:
                write_deltalake(path, chunk, mode="append")
        elif fmt == "iceberg":
            from pyiceberg.catalog.sql import SqlCatalog

            catalog = SqlCatalog(
                "b", uri=f"sqlite:///{tmp / 'c.db'}", warehouse=f"file://{tmp / 'ice'}"
            )
            catalog.create_namespace("b")
            table = catalog.create_table("b.customers", schema=chunks[0].schema)
            for chunk in chunks:
                table.append(chunk)
            path = table.location().removeprefix("file://")
        else:
            path = str(tmp / "customers.parquet")
            pq.write_table(pa.concat_tables(chunks), path)
        config = _config(path, None if fmt == "parquet" else fmt, None)
        warehouse = tmp / "w.duckdb"
        entry = config.sources[0]
        print(f"{fmt}, {n} rows, {args.changed_share:.1%} changed")
        with connect(warehouse) as con:
            full = _timed("full load (first)", lambda: load_source(con, entry, tmp))

        every = max(1, int(1 / args.changed_share))
        changed_ids = np.arange(0, n, every)
        later = START + timedelta(days=400)
        keys = pc.utf8_slice_codeunits(
            pc.binary_join_element_wise("C", pa.array((changed_ids + 10**8).astype(str)), ""),
            0,
            10,
        )
        new = pa.table(
            {
                "customer_id": keys,
                "email": pc.binary_join_element_wise(
                    "moved", pa.array(changed_ids.astype(str)), "@mail.test", ""
                ),
                "city": pa.array(["Denver"] * len(changed_ids)),
                "updated_at": pa.array([later] * len(changed_ids), pa.timestamp("us")),
            }
        )
        if fmt == "delta":
            # In batches: one IN list of 30,000 keys overflowed delta-rs's stack (a segfault).
            old = keys.to_pylist()
            for i in range(0, len(old), 2000):
                listed = ", ".join(f"'{k}'" for k in old[i : i + 2000])
                DeltaTable(path).delete(f"customer_id IN ({listed})")
            write_deltalake(path, new, mode="append")
        elif fmt == "iceberg":
            from pyiceberg.expressions import In

            table.delete(In("customer_id", keys.to_pylist()))
            table.append(new)
        else:
            whole = pq.read_table(path)
            keep = pc.invert(pc.is_in(whole["customer_id"], value_set=keys))
            pq.write_table(pa.concat_tables([whole.filter(keep), new]), path)

        reloaded = tmp / "reloaded.duckdb"
        shutil.copy(warehouse, reloaded)
        with connect(warehouse) as con:
            incremental = _timed("incremental, no key scan", lambda: load_source(con, entry, tmp))
        scanned = tmp / "scanned.duckdb"
        shutil.copy(reloaded, scanned)
        with connect(scanned) as con:
            scan_entry = _config(path, None if fmt == "parquet" else fmt, 0).sources[0]
            _timed("incremental + key scan", lambda: load_source(con, scan_entry, tmp))
        with connect(reloaded) as con:
            _timed("full reload", lambda: load_source(con, entry, tmp, full_reload=True))
        query = "SELECT * EXCLUDE (_row_number, _source_file) FROM raw_crm ORDER BY customer_id"
        with connect(warehouse) as a, connect(reloaded) as b:
            same = a.execute(query).fetchall() == b.execute(query).fetchall()
        print(f"incremental raw table equals the full reload: {same}")
        print(f"incremental / full: {incremental / full:.1%}")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
