"""Incremental vs full load of a Postgres source (issue 18).

A real PostgreSQL server (Debian's binaries, started in a temp dir like the test fixture) holds a
customers table of --rows rows with an index on updated_at. The benchmark times, through
`braze_assets.sources.incremental.load_source` into a DuckDB warehouse file:
  1. a full load (the first load, every row read);
  2. --changed-share of the rows updated at the source (not timed);
  3. an incremental load (only the changed rows read and merged), without the key scan;
  4. the key scan alone (every primary key read to find hard deletes), as its cadence would run it;
  5. a full reload, and a check that it gives the same raw table as the incremental path.

    .venv/bin/python benchmarks/source_incremental.py --rows 10000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from braze_assets.config.model import ProjectConfig
from braze_assets.sources.incremental import load_source
from braze_assets.warehouse import connect
from braze_assets_tests.sources.pg_server import PostgresServer


def _config(key_scan_every_hours):
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "crm",
                    "postgres": {"connection_env": "CRM_DATABASE_URL", "table": "customers"},
                    "primary_key": "customer_id",
                    "updated_at": "updated_at",
                    "load": {
                        "late_tolerance_minutes": 0,
                        "key_scan_every_hours": key_scan_every_hours,
                    },
                    "columns": {
                        "email": "email",
                        "first_name": "given_name",
                        "last_name": "surname",
                        "phone": "phone",
                        "street": "address_line1",
                        "city": "city",
                        "postal_code": "postal_code",
                        "tier": "attribute",
                    },
                }
            ]
        }
    ).sources[0]


def _fill(conn, rows: int) -> None:
    conn.execute(
        "CREATE TABLE customers (customer_id text PRIMARY KEY, email text, first_name text, "
        "last_name text, phone text, street text, city text, postal_code text, tier text, "
        "updated_at timestamptz NOT NULL)"
    )
    conn.execute(
        "INSERT INTO customers SELECT 'C' || lpad(i::text, 9, '0'), 'person' || i || '@mail.test', "
        "(ARRAY['Ann','Bob','Cy','Di','Eve'])[1 + i % 5], (ARRAY['Smith','Jones','Lee'])[1 + i % 3], "
        "'+1555' || lpad((i % 10000000)::text, 7, '0'), (i % 9999) || ' Main St', "
        "(ARRAY['Austin','Boston','Denver'])[1 + i % 3], lpad((i % 99999)::text, 5, '0'), "
        "(ARRAY['gold','silver'])[1 + i % 2], "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' "
        f"FROM generate_series(1, {rows}) AS i"
    )
    conn.execute("CREATE INDEX ON customers (updated_at)")
    conn.execute("VACUUM ANALYZE customers")


def _timed(label: str, fn):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU (this process)", flush=True)
    return out, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()

    import os

    with PostgresServer() as server, tempfile.TemporaryDirectory(prefix="bench_sources_") as tmp:
        os.environ["CRM_DATABASE_URL"] = server.url()
        with psycopg.connect(server.url(), autocommit=True) as conn:
            start = time.perf_counter()
            _fill(conn, args.rows)
            print(f"filled {args.rows:,} rows in {time.perf_counter() - start:.1f} s", flush=True)
            no_scan, scan = _config(None), _config(0)
            warehouse = Path(tmp) / "warehouse.duckdb"
            now = datetime(2026, 1, 1)
            with connect(warehouse) as con:
                full, full_s = _timed(
                    "full load", lambda: load_source(con, no_scan, Path(tmp), now=now)
                )
                assert full.mode == "full" and full.rows_read == args.rows

            every = round(1 / args.changed_share)
            changed = conn.execute(
                "UPDATE customers SET email = 'new.' || email, updated_at = now() "
                f"WHERE right(customer_id, 9)::bigint % {every} = 0"
            ).rowcount
            conn.execute("VACUUM ANALYZE customers")
            print(f"changed {changed:,} rows ({changed / args.rows:.2%})", flush=True)

            with connect(warehouse) as con:
                inc, inc_s = _timed(
                    "incremental load",
                    lambda: load_source(con, no_scan, Path(tmp), now=now + timedelta(hours=1)),
                )
                assert inc.mode == "incremental" and inc.rows_read == changed, inc
                scanned, scan_s = _timed(
                    "incremental load with key scan",
                    lambda: load_source(con, scan, Path(tmp), now=now + timedelta(hours=2)),
                )
                incremental_sum = con.execute(
                    "SELECT count(*), sum(hash(customer_id, email, updated_at, _row_number)) FROM raw_crm"
                ).fetchone()
            with connect(warehouse) as con:
                again, again_s = _timed(
                    "full reload",
                    lambda: load_source(con, no_scan, Path(tmp), full_reload=True, now=now),
                )
                full_sum = con.execute(
                    "SELECT count(*), sum(hash(customer_id, email, updated_at, _row_number)) FROM raw_crm"
                ).fetchone()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nrows {args.rows:,}, changed {changed:,}: full {full_s:.2f} s, incremental "
        f"{inc_s:.2f} s ({inc_s / full_s:.1%} of full), incremental + key scan {scan_s:.2f} s "
        f"(keys {scanned.keys_scanned:,}), full reload {again_s:.2f} s; "
        f"incremental raw == full reload raw: {incremental_sum == full_sum}; "
        f"peak RSS {peak:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
