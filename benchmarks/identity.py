"""Identity resolution at scale: normalise -> match -> cluster -> customer 360, beside Splink alone.

    .venv/bin/python benchmarks/identity.py [--size 1000000] [--data /tmp/demo1m]

Both pipelines read the same demo source records (the first people of the generator's output,
enough to reach --size records) and are scored against the generator's ground truth. Each runs in
its own process so its peak RSS is its own. "Splink alone" is Splink's plain dedupe: the tagged
columns lower-cased and trimmed, Splink's standard comparisons, u sampling, EM, predict and
cluster_pairwise_predictions_at_threshold.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from braze_assets.config.model import ProjectConfig  # noqa: E402
from braze_assets.identity.config import IdentityConfig  # noqa: E402
from braze_assets.settings import DEMO_CONFIG_DIR  # noqa: E402
from braze_assets_tests.identity.fixtures import demo_config, load_sources  # noqa: E402

MEMORY_LIMIT = "6GB"


def identity_config(defaults: bool = False) -> IdentityConfig:
    """The demo's identity section, or (defaults) none at all: the model chosen from the data."""
    import yaml

    if defaults:
        return IdentityConfig()
    path = DEMO_CONFIG_DIR / "identity.yaml"
    return (
        IdentityConfig.model_validate(yaml.safe_load(path.read_text())["identity"])
        if path.exists()
        else IdentityConfig()
    )


def prepare(data: Path, size: int, warehouse: Path) -> int:
    """Load the demo sources and keep the first people whose records add up to about `size`."""
    config = demo_config()
    with duckdb.connect(str(warehouse)) as con:
        load_sources(con, config, data)
        con.execute(
            f"CREATE TABLE truth AS SELECT * FROM read_csv('{data / 'demo_truth' / 'person_truth.csv'}', all_varchar=true)"
        )
        con.execute(f"""CREATE TABLE keep AS SELECT person_id FROM (
            SELECT person_id, sum(count(*)) OVER (ORDER BY person_id) AS running FROM truth GROUP BY person_id)
            WHERE running <= {int(size)}""")
        con.execute("DELETE FROM truth WHERE person_id NOT IN (SELECT person_id FROM keep)")
        for s in config.sources:
            con.execute(
                f"DELETE FROM raw_{s.name} WHERE {s.primary_key} NOT IN (SELECT source_pk FROM truth WHERE source = '{s.name}')"
            )
        con.execute("COPY truth TO '" + str(warehouse.with_suffix(".truth.csv")) + "' (HEADER)")
        return con.execute("SELECT count(*) FROM truth").fetchone()[0]


def _f1(con: duckdb.DuckDBPyConnection, clusters_sql: str, truth: Path) -> dict:
    from braze_assets.identity.quality import pairwise_quality

    return pairwise_quality(
        con,
        f"(SELECT c.cluster, t.person_id AS person FROM ({clusters_sql}) c "
        f"JOIN read_csv('{truth}', all_varchar=true) t ON t.source || ':' || t.source_pk = c.record_id)",
    )


def run_ours(warehouse: Path) -> dict:
    from braze_assets.customer_360.profile import build_customer_360
    from braze_assets.identity.cluster import cluster_and_assign_ids
    from braze_assets.identity.match import score_pairs
    from braze_assets.identity.quality import evaluate_against_truth
    from braze_assets.identity.standardise import standardise

    config, times, cpu = demo_config(), {}, {}
    identity = identity_config(defaults=os.environ.get("IDENTITY_BENCH_DEFAULTS") == "1")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        start, start_cpu = time.perf_counter(), cpu_seconds()
        stages = (
            ("normalise", lambda: standardise(con, config, identity)),
            ("match", lambda: score_pairs(con, identity)),
            ("cluster", lambda: cluster_and_assign_ids(con, identity, run_id="bench", now=NOW)),
            ("customer_360", lambda: build_customer_360(con, config, identity)),
        )
        done = {}
        for stage, run in stages:
            t, c = time.perf_counter(), cpu_seconds()
            done[stage] = run()
            times[f"{stage}_s"] = time.perf_counter() - t
            # CPU of every thread, and of the map worker processes (engine/parallel.py): on a
            # shared machine wall time measures the neighbours too.
            cpu[stage] = round(cpu_seconds() - c, 1)
        times["total_s"] = time.perf_counter() - start
        times["total_cpu_s"] = cpu_seconds() - start_cpu
        scores = done["match"]
        quality = evaluate_against_truth(con, warehouse.with_suffix(".truth.csv"))
    return {
        **times,
        "pairs": scores.pairs,
        "precision": quality.precision,
        "recall": quality.recall,
        "f1": quality.f1,
        "match_stages_s": scores.stage_seconds,
        "stage_cpu_s": cpu,
    }


NOW = datetime(2026, 1, 1)


def cpu_seconds() -> float:
    """CPU seconds of this process, its finished children and its live map workers."""
    from braze_assets.engine.parallel import worker_cpu_seconds

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + worker_cpu_seconds()
    )


SPLINK_FIELDS = (
    "given_name",
    "surname",
    "email",
    "phone",
    "address_line1",
    "city",
    "postal_code",
    "birthdate",
)


def splink_alone(con: duckdb.DuckDBPyConnection, config: ProjectConfig, threshold: float) -> str:
    """Splink's plain dedupe over the sources' raw_<name> tables: tagged columns lower-cased and
    trimmed, standard comparisons, 8 blocking rules, u sampling, EM, predict and
    cluster_pairwise_predictions_at_threshold. Returns the clusters table (unique_id, cluster_id)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    # Splink's own training budget (the demo identity section's numbers when this was written),
    # fixed so the anchor does not move with our defaults.
    u_max_pairs, seed, em_max_pairs = 2e6, 42, 2e6
    selects = []
    for s in config.sources:
        tags = {t: c for c, t in s.columns.items()}
        cols = {f: f'lower(trim("{tags[f]}"))' for f in SPLINK_FIELDS if f in tags}
        if "full_name" in tags and "given_name" not in tags:
            cols["given_name"] = f"lower(split_part(trim(\"{tags['full_name']}\"), ' ', 1))"
            cols["surname"] = f"lower(regexp_extract(trim(\"{tags['full_name']}\"), '(\\S+)$', 1))"
        select = ", ".join(
            f"NULLIF({cols[f]}, '') AS {f}" if f in cols else f"NULL::VARCHAR AS {f}"
            for f in SPLINK_FIELDS
        )
        selects.append(
            f"SELECT '{s.name}:' || {s.primary_key} AS unique_id, {select} FROM raw_{s.name}"
        )
    con.execute("CREATE OR REPLACE TABLE splink_input AS " + " UNION ALL ".join(selects))
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("birthdate", input_is_string=True, invalid_dates_as_null=True),
            cl.LevenshteinAtThresholds("address_line1", [2, 5]),
            cl.ExactMatch("city"),
            cl.ExactMatch("postal_code"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("given_name", "surname"),
            block_on("surname", "postal_code"),
            block_on("surname", "birthdate"),
            block_on("given_name", "birthdate"),
            block_on("address_line1", "postal_code"),
            block_on("given_name", "postal_code"),
        ],
    )
    linker = Linker(DuckDBAPI(con).register("splink_input"), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for rule in (
        block_on("given_name", "surname"),
        block_on("email"),
        block_on("postal_code", "birthdate"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=em_max_pairs
        )
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    return clusters.physical_name


def run_splink_alone(warehouse: Path) -> dict:
    config = demo_config()
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        start = time.perf_counter()
        clusters = splink_alone(con, config, identity_config().match_threshold or 0.99)
        total = time.perf_counter() - start
        quality = _f1(
            con,
            f"SELECT unique_id AS record_id, cluster_id AS cluster FROM {clusters}",
            warehouse.with_suffix(".truth.csv"),
        )
    return {"total_s": total, **quality}


def run_churn(warehouse: Path, share: float = 0.01) -> dict:
    """Hold back `share` of the records, resolve, rerun unchanged, add them back, resolve again."""
    from braze_assets.identity.cluster import cluster_and_assign_ids
    from braze_assets.identity.match import score_pairs
    from braze_assets.identity.standardise import standardise

    config = demo_config()
    identity = identity_config(defaults=os.environ.get("IDENTITY_BENCH_DEFAULTS") == "1")
    with duckdb.connect(str(warehouse)) as con:
        for s in config.sources:
            con.execute(
                f"CREATE TABLE held_{s.name} AS SELECT * FROM raw_{s.name} WHERE hash({s.primary_key}) % 1000 < {int(share * 1000)}"
            )
            con.execute(
                f"DELETE FROM raw_{s.name} WHERE hash({s.primary_key}) % 1000 < {int(share * 1000)}"
            )

        def resolve(run: str):
            standardise(con, config, identity)
            score_pairs(con, identity)
            report = cluster_and_assign_ids(con, identity, run_id=run, now=datetime(2026, 1, 1))
            return report, dict(
                con.execute("SELECT record_id, customer_id FROM unified_coalesced").fetchall()
            )

        _, first = resolve("churn-1")
        rerun, again = resolve("churn-2")
        for s in config.sources:
            con.execute(f"INSERT INTO raw_{s.name} SELECT * FROM held_{s.name}")
        grown, second = resolve("churn-3")
    new_records = set(second) - set(first)
    touched = {second[r] for r in new_records}
    moved = [r for r, cid in first.items() if second[r] != cid]
    unexplained = [r for r in moved if second[r] not in touched]
    return {
        "records": len(first),
        "rerun_ids_changed": sum(again[r] != c for r, c in first.items()),
        "rerun_churn": rerun.churn,
        "added_records": len(new_records),
        "ids_created": grown.created,
        "ids_merged": grown.merged,
        "ids_split": grown.split,
        "ids_changed": grown.changed,
        "records_moved": len(moved),
        "records_moved_without_a_new_record": len(unexplained),
    }


def _child(mode: str, warehouse: Path) -> None:
    if mode == "churn":
        print("RESULT " + json.dumps(run_churn(warehouse)))
        return
    from braze_assets.engine.parallel import stop_workers

    result = run_ours(warehouse) if mode == "ours" else run_splink_alone(warehouse)
    stop_workers()  # their CPU and peak memory then show in RUSAGE_CHILDREN
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    # The largest map worker's peak (each holds one chunk of one map): peak_rss_mb plus this
    # bounds the run's memory from above.
    result["worker_peak_rss_mb"] = workers.ru_maxrss / 1024
    # CPU seconds (all threads, workers included): on a shared machine wall time measures the
    # neighbours too.
    result["cpu_s"] = usage.ru_utime + usage.ru_stime + workers.ru_utime + workers.ru_stime
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/demo1m"))
    parser.add_argument("--child", choices=["ours", "splink", "churn"])
    parser.add_argument(
        "--churn", action="store_true", help="Also measure id churn: rerun, then 1%% more records."
    )
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="Run ours with no identity section (model, blocking and threshold chosen from the data).",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="Keep the prepared warehouse here and reuse it on the next run.",
    )
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.warehouse)
        return
    if not (args.data / "demo_truth" / "person_truth.csv").exists():
        from braze_assets.demo_data import (
            generate_demo_data,  # generator owned by the demo_data domain
        )

        # The generator writes about 1.93 source records per person.
        generate_demo_data(args.data, people=int(args.size / 1.9) + 1000)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="identity_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / f"base_{args.size}.duckdb"
    t = time.perf_counter()
    if not base.exists():
        prepare(args.data, args.size, base)
    with duckdb.connect(str(base), read_only=True) as con:
        records = con.execute("SELECT count(*) FROM truth").fetchone()[0]
    print(
        f"prepared {records:,} source records in {time.perf_counter() - t:.1f}s ({work})",
        flush=True,
    )
    results = {}
    for mode in ("ours", "splink", *(["churn"] if args.churn else [])):
        warehouse = work / f"{mode}.duckdb"
        warehouse.write_bytes(base.read_bytes())
        warehouse.with_suffix(".truth.csv").write_bytes(base.with_suffix(".truth.csv").read_bytes())
        warehouse.with_suffix(".duckdb.wal").unlink(missing_ok=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--warehouse", str(warehouse)],
            env={**os.environ, "IDENTITY_BENCH_DEFAULTS": "1" if args.defaults else "0"},
            capture_output=True,
            text=True,
            check=False,
        )
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{mode} failed:\n{out.stderr[-4000:]}")
        results[mode] = json.loads(line[7:])
        print(mode, results[mode], flush=True)
    ours, alone = results["ours"], results["splink"]
    print(f"\n{records:,} source records, {args.data}")
    print(
        f"{'pipeline':<36}{'wall s':>9}{'peak RSS MB':>13}{'precision':>11}{'recall':>9}{'F1':>8}"
    )
    print(
        f"{'braze_assets (normalise..360)':<36}{ours['total_s']:>9.1f}{ours['peak_rss_mb']:>13.0f}"
        f"{ours['precision']:>11.4f}{ours['recall']:>9.4f}{ours['f1']:>8.4f}"
    )
    print(
        f"{'Splink alone (dedupe + cluster)':<36}{alone['total_s']:>9.1f}{alone['peak_rss_mb']:>13.0f}"
        f"{alone['precision']:>11.4f}{alone['recall']:>9.4f}{alone['f1']:>8.4f}"
    )
    print(
        "stages (s): "
        + ", ".join(
            f"{k[:-2]} {ours[k]:.1f}"
            for k in ("normalise_s", "match_s", "cluster_s", "customer_360_s")
        )
    )
    print(
        "stage CPU (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in ours["stage_cpu_s"].items())
        + f"; total CPU ours {ours['cpu_s']:.1f}, Splink alone {alone['cpu_s']:.1f}"
    )
    print(f"time ratio ours / Splink alone: {ours['total_s'] / alone['total_s']:.2f}")
    if "churn" in results:
        print("id churn: " + ", ".join(f"{k} {v}" for k, v in results["churn"].items()))


if __name__ == "__main__":
    main()
