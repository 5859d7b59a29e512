"""Scaling of the stages that run on both engines: wall time and peak memory per stage per engine.

    .venv/bin/python benchmarks/engine_scaling.py --people 100000 200000 400000

For each size: generate the demo sources (same seed), load them into a DuckDB file, then per engine
run each ported stage in a fresh process and record wall seconds and peak RSS. Spark is local[2];
its peak is reported for the Python driver and for the JVM (the executors, in local mode) plus the
Python workers that run the normalisers. The growth exponent of each stage is the slope of
log(time) over log(records) between the smallest and largest size.

Stages: `publish` (Spark only: raw tables from the DuckDB file to the table location, through the
driver) and `standardise` (unified_standardised). Every later stage still runs on DuckDB in Spark
mode (docs/operations.md), so it is not measured here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE = r"""
import json, os, sys, time
from pathlib import Path
engine_name, stage, data_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
os.environ["BRAZE_ASSETS_DATA_DIR"] = str(data_dir)
import duckdb
from braze_assets.config import load_config
from braze_assets.settings import DEMO_CONFIG_DIR
config = load_config(DEMO_CONFIG_DIR)
con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
extra = {}
if engine_name == "spark":
    from braze_assets.engine.config import SparkConfig
    from braze_assets.engine.session import build_session
    from braze_assets.engine.spark_engine import SparkEngine
    settings = SparkConfig(master="local[2]", table_location=str(data_dir / "spark_tables"),
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4",
              "spark.driver.memory": "4g"})
    session = build_session(settings)
    engine = SparkEngine(session, settings.location())
else:
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    engine = DuckDBEngine(con)
started = time.perf_counter()
if stage == "publish":
    from braze_assets.sources.incremental import raw_table_name
    for source in [*config.sources, *config.transactions]:
        table = raw_table_name(source)
        engine.write_arrow(table, con.execute(f"SELECT * FROM {table}").to_arrow_table())
elif stage == "standardise":
    from braze_assets.identity.standardise import standardise
    report = standardise(engine, config, config.identity)
    extra["records"] = report.rows
wall = time.perf_counter() - started

def hwm(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0

def descendants(pid):
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += [int(child), *descendants(int(child))]
    return out

# VmHWM, not ru_maxrss: Linux carries the parent's peak across fork+exec into ru_maxrss.
driver = hwm(os.getpid())
others = sum(hwm(p) for p in descendants(os.getpid()))
print(json.dumps({"wall_s": wall, "driver_peak": driver, "executor_peak": others, **extra}))
"""


def _run_stage(engine: str, stage: str, data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STAGE, engine, stage, str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{engine} {stage} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare(people: int, base: Path) -> Path:
    from braze_assets.config import load_config
    from braze_assets.demo_data import generate_demo_data
    from braze_assets.settings import DEMO_CONFIG_DIR

    data_dir = base / f"p{people}"
    generate_demo_data(data_dir, people=people)
    os.environ["BRAZE_ASSETS_DATA_DIR"] = str(data_dir)
    import duckdb

    from braze_assets.sources.incremental import load_source

    config = load_config(DEMO_CONFIG_DIR)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        for source in [*config.sources, *config.transactions]:
            load_source(con, source, data_dir)
    return data_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="engine_scaling_"))
    results = []
    for people in args.people:
        started = time.perf_counter()
        data_dir = _prepare(people, base)
        print(f"# {people:,} people prepared in {time.perf_counter() - started:.0f} s", flush=True)
        for engine in args.engines:
            stages = ["publish", "standardise"] if engine == "spark" else ["standardise"]
            records = None
            for stage in stages:
                row = _run_stage(engine, stage, data_dir)
                records = row.get("records", records)
                row.update(people=people, engine=engine, stage=stage)
                results.append(row)
                print(json.dumps(row), flush=True)
        print(f"# load average {os.getloadavg()[0]:.1f}", flush=True)
    _table(results)


def _table(results: list[dict]) -> None:
    print("\n| engine | stage | people | records | wall s | driver peak MiB | executors peak MiB |")
    print("|---|---|---|---|---|---|---|")
    records = {r["people"]: r["records"] for r in results if "records" in r}
    for r in results:
        print(
            f"| {r['engine']} | {r['stage']} | {r['people']:,} | {records.get(r['people'], 0):,} "
            f"| {r['wall_s']:.1f} | {r['driver_peak'] / 2**20:.0f} | {r['executor_peak'] / 2**20:.0f} |"
        )
    print("\n| engine | stage | time exponent | driver memory exponent |\n|---|---|---|---|")
    for key in sorted({(r["engine"], r["stage"]) for r in results}):
        rows = sorted(
            (r for r in results if (r["engine"], r["stage"]) == key), key=lambda r: r["people"]
        )
        if len(rows) < 2:
            continue
        lo, hi = rows[0], rows[-1]
        span = math.log(records[hi["people"]] / records[lo["people"]])
        time_exp = math.log(hi["wall_s"] / lo["wall_s"]) / span
        mem_exp = math.log(hi["driver_peak"] / lo["driver_peak"]) / span
        print(f"| {key[0]} | {key[1]} | {time_exp:.2f} | {mem_exp:.2f} |")


if __name__ == "__main__":
    main()
