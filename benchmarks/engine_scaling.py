"""Scaling of the pipeline on both engines: identity -> customer 360 -> attributes -> snapshot ->
diff, wall time, CPU and peak memory per stage, at growing numbers of source records (issue 15).

    .venv/bin/python benchmarks/engine_scaling.py --sizes 1000000 2000000 4000000 --dir /tmp/engine_scaling

For each size: the demo generator writes the sources (about 1.93 identity records per person, so
people = records / 1.93; the records reported are the rows of unified_standardised), then each
stage is materialised through Dagster (`dg.materialize`) in a process of its own, in pipeline
order, as Dagster's multiprocess executor (the project's default) runs each step: a stage's
driver figures are then its own, not what the stages before it left in the heap. Each engine has
its own warehouse file (BRAZE_ASSETS_ENGINE=duckdb or spark). Spark is local[2], 4 shuffle
partitions, 4 GB driver memory; every stage's process starts its session before the stage is
measured, and the first one's start is reported apart ("session"). A stage that has no Spark
version yet runs on DuckDB in Spark mode too (docs/operations.md); the "ran on" column says
which, from the asset's kinds, so a stage ported later is measured on Spark without changing this
script. `--keep` measures stages again on what an earlier run left in --dir.

Memory per stage: "driver" is the stage's process's peak RSS during the stage (VmHWM, reset at
the stage's start, after the session's, through /proc/self/clear_refs); "executors" is the peak, sampled every 0.1 s, of the
summed RSS of its child processes: the JVM (driver and executors in local mode) and the Python
workers. CPU seconds are this process's plus its children's (a worker that exits during a stage
loses its CPU). The growth exponent of a stage is the least-squares slope of log(value) over
log(records) across the sizes. Each Spark figure is also given as a ratio to DuckDB's at the same
size in the same run (the anchor), which moves less with the machine's load than either.

The diff is the sync's own `compute_changes` for the day's snapshot against the confirmed state,
which is empty here (a first sync: every value is an add); it runs as the sync asset runs it, on
the engine of the mode (in Spark mode with the confirmed state copied to the table location first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Identity records (the four customer sources) per demo person, measured on the generator's output.
RECORDS_PER_PERSON = 1.93
DAY = dt.date(2026, 6, 1)
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "4g",
}


@dataclass(frozen=True)
class Stage:
    name: str
    groups: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    partitioned: bool = False


def stages() -> tuple[Stage, ...]:
    """Pipeline order. Asset stages are selected by group or asset name, so a Spark version of an
    asset (sparkrest's snapshots) is measured as soon as it is in the tree."""
    from braze_assets import tables
    from braze_assets.sync.tables import SNAPSHOTS

    return (
        Stage("sources", groups=("sources",)),
        Stage("identity", groups=("identity",)),
        Stage("customer_360", groups=(tables.CUSTOMER_360_GROUP,)),
        Stage("attributes", keys=(tables.BRAZE_CUSTOMER_ATTRIBUTES,)),
        Stage("snapshots", keys=(SNAPSHOTS,), partitioned=True),
        Stage("diff"),
    )


# ---- memory and CPU of this process and its children, from /proc ---------------------------------


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            out += [int(child), *_children(int(child))]
    except OSError:
        pass
    return out


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime (fields 14-17 of stat; 12-15 after the name).
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Peak memory and CPU of this process (the driver) and its children, per stage."""

    def __init__(self, interval: float = 0.1):
        self.pid, self.interval = os.getpid(), interval
        self.children_peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = sum(_status(p, "VmRSS") for p in _children(self.pid))
            self.children_peak = max(self.children_peak, rss)

    def start(self) -> None:
        # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
        Path("/proc/self/clear_refs").write_text("5")
        self.children_peak = 0
        self._cpu = {p: _cpu(p) for p in [self.pid, *_children(self.pid)]}
        self._started = time.perf_counter()

    def stop(self) -> dict:
        wall = time.perf_counter() - self._started
        now = {p: _cpu(p) for p in [self.pid, *_children(self.pid)]}
        return {
            "wall_s": wall,
            "cpu_s": sum(c - self._cpu.get(p, 0.0) for p, c in now.items()),
            "driver_peak": _status(self.pid, "VmHWM"),
            "executor_peak": self.children_peak,
        }


# ---- one engine's stages, in a child process --------------------------------------------------------


def _assets():
    from braze_assets.defs import project
    from braze_assets.defs.attributes.definitions import build_defs as attributes_defs
    from braze_assets.defs.customer_360.definitions import build_defs as customer_360_defs
    from braze_assets.defs.identity.assets import build_identity_assets
    from braze_assets.defs.snapshots.definitions import build_defs as snapshot_defs
    from braze_assets.defs.sources.assets import build_source_assets

    config = project.project_config()
    return [
        *build_source_assets(config),
        *build_identity_assets(config, config.identity),
        *customer_360_defs().assets,
        *attributes_defs().assets,
        *snapshot_defs().assets,
    ]


def _ran_on(assets, selection) -> str:
    keys = selection.resolve(assets)
    kinds = {
        kind
        for a in assets
        for key in a.keys
        if key in keys
        for kind in (a.specs_by_key[key].kinds or ())
        if kind in ("spark", "duckdb")
    }
    return "+".join(sorted(kinds)) or "duckdb"


def _diff(data_dir: Path, engine: str, spark=None) -> dict:
    # `spark`: the run's SparkConfig in Spark mode.
    """The sync's diff as the sync asset runs it: in Spark mode on Spark, with the confirmed
    state (and the other tables the diff reads) copied from the warehouse file first."""
    import duckdb

    from braze_assets.defs import project
    from braze_assets.defs.engine import export_tables
    from braze_assets.defs.sync.assets import DIFF_STATE
    from braze_assets.engine.duckdb_engine import DuckDBEngine
    from braze_assets.sync.config import ResolvedSyncSettings
    from braze_assets.sync.diff import compute_changes
    from braze_assets.sync.tables import ensure_tables
    from braze_assets.warehouse import apply_memory_limit

    values = 0
    with duckdb.connect(str(data_dir / f"warehouse_{engine}.duckdb")) as con:
        if spark is not None:
            # As the sync asset's connection in Spark mode: the driver's DuckDB capped.
            apply_memory_limit(con, spark.warehouse_memory_limit)
        ensure_tables(con)
        if spark is None:
            on = DuckDBEngine(con)
        else:
            from braze_assets.engine.session import build_session
            from braze_assets.engine.spark_engine import SparkEngine

            # The run's session (getOrCreate), as the sync asset's resource gives it.
            engine = SparkEngine(build_session(spark), spark.location(), spark.splink)
            on = export_tables(con, engine, DIFF_STATE)
        for destination in project.project_config().destinations:
            settings = ResolvedSyncSettings(destination=destination.name)
            values += compute_changes(
                on,
                destination.name,
                DAY,
                clear_attributes=(),
                float_tolerance=settings.float_tolerance,
                memory_limit=settings.diff_memory_limit,
            ).values
    return {"rows": values}


def _step_seconds(instance, run_id: str) -> dict:
    """Seconds per step of a run, from its start and success events."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return seconds


def _row_counts(result) -> dict:
    counts = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        rows = materialization.metadata.get("dagster/row_count")
        if rows is not None:
            counts[materialization.asset_key.to_user_string()] = rows.value
    return counts


def run_engine(engine: str, data_dir: Path, names: list[str], keep: bool = False) -> None:
    """Materialise the named stages in order on one engine; print one JSON line per stage.
    `keep`: go on from the warehouse (and table location) the stages before left."""
    import dagster as dg

    from braze_assets import settings
    from braze_assets.defs.resources import WAREHOUSE_KEY, WarehouseResource
    from braze_assets.engine.config import ENV_ENGINE, SparkConfig

    os.environ[ENV_ENGINE] = engine
    os.environ[settings.ENV_DATA_DIR] = str(data_dir)
    os.environ.setdefault(settings.ENV_CONFIG_DIR, str(settings.DEMO_CONFIG_DIR))
    meter = Meter()
    # A fresh start on every run: a warehouse (or table location) left by an earlier run holds its
    # trained identity model, which the identity stage would reuse instead of training, so a
    # rerun measured 49 s where a first run measures the training too.
    warehouse = data_dir / f"warehouse_{engine}.duckdb"
    for stale in () if keep else (warehouse, Path(f"{warehouse}.wal")):
        stale.unlink(missing_ok=True)
    if engine == "spark" and not keep:
        import shutil

        shutil.rmtree(data_dir / "spark_tables", ignore_errors=True)
    # Spark mode's driver DuckDB capped as definitions.py caps it (engine.spark's default).
    cap = SparkConfig().warehouse_memory_limit if engine == "spark" else None
    resources = {WAREHOUSE_KEY: WarehouseResource(database=str(warehouse), memory_limit=cap)}
    if engine == "spark":
        from braze_assets.defs.spark import spark_resource
        from braze_assets.engine.session import build_session

        spark = SparkConfig(
            master="local[2]", table_location=str(data_dir / "spark_tables"), conf=SPARK_CONF
        )
        meter.start()
        build_session(spark)
        # Every stage's process starts a session; its cost is reported once, apart.
        if not keep:
            print(json.dumps({"stage": "session", "ran_on": "spark", **meter.stop()}), flush=True)
        resources["spark"] = spark_resource(spark)
    assets = _assets()
    instance = dg.DagsterInstance.ephemeral()
    for stage in (s for s in stages() if s.name in names):
        meter.start()
        if stage.name == "diff":
            extra = _diff(data_dir, engine, spark if engine == "spark" else None)
            ran_on = "spark" if "spark" in resources else "duckdb"
        else:
            selection = dg.AssetSelection.groups(*stage.groups) | dg.AssetSelection.assets(
                *stage.keys
            )
            result = dg.materialize(
                assets,
                resources=resources,
                selection=selection,
                instance=instance,
                partition_key=DAY.isoformat() if stage.partitioned else None,
            )
            if not result.success:
                raise SystemExit(f"{engine} {stage.name} failed")
            ran_on = _ran_on(assets, selection)
            extra = {
                "rows": _row_counts(result),
                "steps_s": _step_seconds(instance, result.run_id),
            }
        print(
            json.dumps({"stage": stage.name, "ran_on": ran_on, **meter.stop(), **extra}), flush=True
        )


# ---- the sizes, the engines and the report ------------------------------------------------------------


def _prepare(records: int, base: Path) -> Path:
    from braze_assets.demo_data import generate_demo_data

    data_dir = base / f"r{records}"
    generate_demo_data(data_dir, people=math.ceil(records / RECORDS_PER_PERSON), as_of=DAY)
    return data_dir


def _run_engine_child(
    engine: str, data_dir: Path, names: list[str], keep: bool = False
) -> list[dict]:
    """The engine's stages in a fresh process; each stage's line is printed as it lands, so a
    long run shows its progress and its output keeps the stages done when a later one fails. The child's
    logs (Dagster's, Spark's) go to <data dir>/<engine>.log."""
    log = data_dir / f"{engine}.log"
    log.unlink(missing_ok=True)
    rows = []
    # One process per stage, as Dagster's multiprocess executor (the project's) runs each step:
    # a stage's driver peak is then its own, not what the stages before it left in the heap.
    for i, name in enumerate(names):
        with log.open("a") as errors:
            child = subprocess.Popen(
                [sys.executable, __file__, "--child", engine, "--dir", str(data_dir)]
                + ["--stages", name]
                + (["--keep"] if i or keep else []),
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            for line in child.stdout:
                if line.startswith("{"):
                    rows.append(json.loads(line))
                    # The whole line too: a later stage's failure ends the run before the
                    # results file is written (round 9 lost Spark 4M's identity peak that way).
                    print(
                        f"# {engine} {rows[-1]['stage']}: {rows[-1]['wall_s']:.1f} s {line.strip()}",
                        flush=True,
                    )
        if child.wait() != 0:
            raise SystemExit(f"{engine} failed in {name}:\n{log.read_text()[-4000:]}")
    return rows


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) over log(x): the growth exponent."""
    points = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


def report(results: list[dict]) -> str:
    mib = 2**20
    lines = [
        "| engine | stage | ran on | records | wall s | CPU s | driver peak MiB | executors peak MiB | spark / duckdb wall |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    wall = {(r["engine"], r["stage"], r["records"]): r["wall_s"] for r in results}
    for r in results:
        anchor = wall.get(("duckdb", r["stage"], r["records"]))
        ratio = f"{r['wall_s'] / anchor:.1f}x" if r["engine"] == "spark" and anchor else ""
        executors = f"{r['executor_peak'] / mib:,.0f}" if r["executor_peak"] else "-"
        lines.append(
            f"| {r['engine']} | {r['stage']} | {r['ran_on']} | {r['records']:,} | {r['wall_s']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['driver_peak'] / mib:,.0f} | {executors} | {ratio} |"
        )
    lines += [
        "",
        "| engine | stage | time exponent | CPU exponent | driver memory exponent | executors memory exponent | spark / duckdb wall exponent |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]

    def fmt(value):
        return "-" if value is None else f"{value:.2f}"

    for engine, stage in dict.fromkeys((r["engine"], r["stage"]) for r in results):
        rows = [r for r in results if (r["engine"], r["stage"]) == (engine, stage)]
        ratios = [
            (r["records"], r["wall_s"] / wall[("duckdb", stage, r["records"])])
            for r in rows
            if engine == "spark" and ("duckdb", stage, r["records"]) in wall
        ]
        lines.append(
            f"| {engine} | {stage} | "
            + " | ".join(
                fmt(slope([(r["records"], r[k]) for r in rows]))
                for k in ("wall_s", "cpu_s", "driver_peak", "executor_peak")
            )
            + f" | {fmt(slope(ratios))} |"
        )
    lines += ["", *_row_differences(results)]
    return "\n".join(lines)


def _row_differences(results: list[dict]) -> list[str]:
    """Tables whose row counts differ between the engines at one size: a quick look, not parity
    (braze_assets_tests/engine/test_parity.py compares the rows themselves)."""
    counts: dict[tuple, dict[str, int]] = {}
    for r in results:
        rows = r.get("rows")
        for table, n in (rows if isinstance(rows, dict) else {r["stage"]: rows}).items():
            if n is not None:
                counts.setdefault((r["records"], table), {})[r["engine"]] = n
    differ = [
        f"- {records:,} records, {table}: "
        + ", ".join(f"{e} {n:,}" for e, n in sorted(by_engine.items()))
        for (records, table), by_engine in counts.items()
        if len(set(by_engine.values())) > 1
    ]
    return (
        ["Row counts that differ between the engines:", *differ]
        if differ
        else ["Row counts: the same on both engines for every table."]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--stages", nargs="+", default=[s.name for s in stages()])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--child", choices=["duckdb", "spark"])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Go on from the warehouse and tables an earlier run left in --dir (no new data, "
        "no fresh start): to measure later stages again.",
    )
    parser.add_argument(
        "--report", type=Path, help="Print the tables of a results.json an earlier run wrote."
    )
    args = parser.parse_args()
    if args.child:
        run_engine(args.child, args.dir, args.stages, keep=args.keep)
        return
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    base = args.dir or Path(tempfile.mkdtemp(prefix="engine_scaling_"))
    results = []
    for size in args.sizes:
        started = time.perf_counter()
        if args.keep:
            data_dir = base / f"r{size}"
        else:
            data_dir = _prepare(size, base)
        print(f"# {size:,} records: data in {time.perf_counter() - started:.0f} s", flush=True)
        for engine in args.engines:
            rows = _run_engine_child(engine, data_dir, args.stages, keep=args.keep)
            records = next(
                (r["rows"].get("unified_standardised") for r in rows if r["stage"] == "identity"),
                size,
            )
            for row in rows:
                row.update(engine=engine, size=size, records=records)
                results.append(row)
                print(json.dumps(row), flush=True)
            # After every engine, so a long run that stops later keeps what it measured.
            (base / ("results_kept.json" if args.keep else "results.json")).write_text(
                json.dumps(results, indent=1)
            )
        print(f"# load average {os.getloadavg()[0]:.1f}", flush=True)
    print("\n" + report(results))


if __name__ == "__main__":
    main()
