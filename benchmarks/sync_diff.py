"""Change-only sync benchmark: diff at scale, data points checked against the sandbox, vs full resync.

    .venv/bin/python benchmarks/sync_diff.py [--size 1000000] [--attributes 30]
        [--change-share 0.02] [--full-resync-size 100000] [--workdir DIR]

1. Builds a warehouse: `--size` customers x `--attributes` attributes (strings, integers, floats,
   decimals, booleans, dates and two non-billable subscription fields), yesterday's snapshot fully
   confirmed in braze_confirmed_state, today's snapshot with `--change-share` of values changed.
2. Diff: `compute_changes` in a fresh process -> wall time and peak RSS of that process.
3. Sync of the changes through BrazeClient to the sandbox (its own process, rate limit off):
   data points spent by the sandbox's own count must equal the changed billable values.
4. Naive full resync (every value, `full_resync`) to a fresh sandbox, of a warehouse of
   `--full-resync-size` customers built the same way, scaled linearly to `--size` for the ratio
   (sending 30 million values to the Python sandbox would take most of an hour).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from braze_assets.braze.client import BrazeClient  # noqa: E402
from braze_assets.sandbox import DEFAULT_API_KEY  # noqa: E402
from braze_assets.sync.config import ResolvedSyncSettings  # noqa: E402
from braze_assets.sync.diff import compute_changes  # noqa: E402
from braze_assets.sync.runner import sync_destination  # noqa: E402
from braze_assets.sync.tables import (  # noqa: E402
    CONFIRMED,
    KEY_ID_SQL,
    SNAPSHOTS,
    VALUE_HASH_SQL,
    ensure_tables,
)

DESTINATION = "bench"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
# (type, count): 30 attributes in the default mix.
_MIX = [
    ("string", 10),
    ("integer", 6),
    ("float", 5),
    ("decimal(10,2)", 3),
    ("boolean", 2),
    ("date", 2),
    ("subscription", 2),
]
_VALUE_SQL = {
    "string": "'\"s' || (v % 100000)::VARCHAR || '\"'",
    "integer": "(v % 100000)::VARCHAR",
    "float": "((v % 100000) / 7.0)::DOUBLE::VARCHAR",
    "decimal(10,2)": "printf('%.2f', (v % 100000) / 100.0)",
    "boolean": "CASE WHEN v % 2 = 0 THEN 'true' ELSE 'false' END",
    "date": "'\"' || strftime(DATE '2000-01-01' + (v % 9000)::INTEGER, '%Y-%m-%d') || '\"'",
    "subscription": "['\"opted_in\"', '\"subscribed\"', '\"unsubscribed\"'][(v % 3)::INTEGER + 1]",
}


def attribute_catalog(n_attributes: int) -> list[tuple[str, str, bool]]:
    kinds = [t for t, count in _MIX for _ in range(count)]
    kinds = (kinds * math.ceil(n_attributes / len(kinds)))[:n_attributes]
    catalog, subscriptions = [], iter(["email_subscribe", "push_subscribe"])
    for i, kind in enumerate(kinds):
        name = next(subscriptions, None) if kind == "subscription" else None
        if name is None:
            kind = "string" if kind == "subscription" else kind
            name = f"attr_{i:02d}_{kind.split('(')[0]}"
        catalog.append((name, kind, name not in ("email_subscribe", "push_subscribe")))
    return catalog


def build_warehouse(path: Path, size: int, n_attributes: int, change_share: float) -> dict:
    catalog = attribute_catalog(n_attributes)
    every = round(1 / change_share)
    by_type = " ".join(f"WHEN '{kind}' THEN {sql}" for kind, sql in _VALUE_SQL.items())
    with duckdb.connect(str(path)) as con:
        ensure_tables(con)
        con.execute(
            "CREATE TEMP TABLE attrs (a INTEGER, name VARCHAR, kind VARCHAR, attr_type VARCHAR, billable BOOLEAN)"
        )
        con.executemany(
            "INSERT INTO attrs VALUES (?, ?, ?, ?, ?)",
            [
                [i, n, k, "string" if k == "subscription" else k, b]
                for i, (n, k, b) in enumerate(catalog)
            ],
        )
        con.execute(
            f"CREATE TEMP TABLE customers AS SELECT c, md5(c::VARCHAR)::UUID::VARCHAR AS identifier FROM range({size}) t(c)"
        )
        # Keys are the same both days: compute each key id once.
        con.execute(
            f"""CREATE TEMP TABLE keyed AS
            SELECT c, a.a, identifier, a.name AS attribute, '' AS element, a.kind, a.attr_type, a.billable,
                   {KEY_ID_SQL} AS key_id, hash(c * 64 + a.a) % 1000000 AS base
            FROM customers, (SELECT a, name, kind, attr_type, billable FROM attrs) a"""
        )
        for day, bump in ((DAY1, "0"), (DAY2, f"(hash(c, a) % {every} = 0)::INTEGER")):
            con.execute(
                f"""INSERT INTO {SNAPSHOTS}
                WITH vals AS (
                    SELECT *, CASE kind {by_type} END AS value_json FROM (SELECT *, base + {bump} AS v FROM keyed)
                )
                SELECT ?::DATE, ?, identifier, attribute, element, key_id, 'value', attr_type, billable, value_json,
                       {VALUE_HASH_SQL}
                FROM vals""",
                [day, DESTINATION],
            )
        con.execute("DROP TABLE keyed")
        con.execute(
            f"""INSERT INTO {CONFIRMED} SELECT destination, identifier, attribute, element, key_id, kind, billable,
                       value_json, value_hash, TIMESTAMP '2026-11-01 06:00:00', 'seed'
                FROM {SNAPSHOTS} WHERE snapshot_date = ?""",
            [DAY1],
        )
        changed, billable = con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE b.billable) FROM {SNAPSHOTS} a JOIN {SNAPSHOTS} b
                USING (key_id) WHERE a.snapshot_date = ? AND b.snapshot_date = ?
                AND a.value_json <> b.value_json""",
            [DAY1, DAY2],
        ).fetchone()
        con.execute("CHECKPOINT")
    return {
        "changed_values": changed,
        "changed_billable": billable,
        "values_per_day": size * n_attributes,
        "billable_attributes": sum(b for *_, b in catalog),
    }


def diff_child(path: str) -> None:
    """Runs in its own process so peak RSS is the diff's alone."""
    with duckdb.connect(path) as con:
        started = time.perf_counter()
        settings = ResolvedSyncSettings(destination=DESTINATION)
        counts = compute_changes(
            con,
            DESTINATION,
            DAY2,
            clear_attributes=(),
            float_tolerance=settings.float_tolerance,
            memory_limit=settings.diff_memory_limit,
        )
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss": _peak_rss(),
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "load_avg": os.getloadavg()[0],
                **counts.as_dict(),
            }
        )
    )


def _peak_rss() -> int:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report its parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_diff(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--diff-child", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class Sandbox:
    """The sandbox in its own process (so its work does not share this process's GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "braze_assets.sandbox", "--port", "0", "--rate-limit", "off"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = self.proc.stdout.readline().split()[-1]

    def get(self, name: str):
        return requests.get(f"{self.url}/_sandbox/{name}", timeout=600).json()

    def seed(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 100_000):
            requests.post(
                f"{self.url}/_sandbox/seed",
                json={"external_ids": ids[start : start + 100_000]},
                timeout=600,
            ).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def run_sync(path: Path, journal: Path, *, full_resync: bool) -> dict:
    sandbox = Sandbox()
    try:
        with duckdb.connect(str(path)) as con:
            ids = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT identifier FROM {SNAPSHOTS} WHERE snapshot_date = ? ORDER BY 1",
                    [DAY2],
                ).fetchall()
            ]
            sandbox.seed(ids)
            settings = ResolvedSyncSettings(destination=DESTINATION, full_resync=full_resync)
            with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
                started = time.perf_counter()
                report = sync_destination(
                    con,
                    client,
                    destination=DESTINATION,
                    identifier_type="external_id",
                    clear_attributes=(),
                    settings=settings,
                    journal_root=journal,
                )
                seconds = time.perf_counter() - started
        stats = sandbox.get("stats")
        return {
            "seconds": seconds,
            "objects": report.diff.objects,
            "values": report.diff.values,
            "forecast": report.diff.forecast_data_points,
            "spent_ours": report.data_points_spent,
            "spent_sandbox": stats["data_points"],
            "requests": stats["requests"],
            "delivered": report.objects_delivered,
            "not_ok": report.objects_rejected + report.objects_not_delivered,
        }
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="customers")
    parser.add_argument("--attributes", type=int, default=30)
    parser.add_argument("--change-share", type=float, default=0.02)
    parser.add_argument(
        "--full-resync-size",
        type=int,
        default=50_000,
        help="customers sent by the naive full resync (scaled to --size)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--diff-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.diff_child:
        diff_child(args.diff_child)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sync_diff_"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "warehouse.duckdb"
    for stale in (path, work / "warehouse.duckdb.wal"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(work / "journal", ignore_errors=True)
    t0 = time.perf_counter()
    truth = build_warehouse(path, args.size, args.attributes, args.change_share)
    build_s = time.perf_counter() - t0
    diff = measure_diff(path)
    diff2 = measure_diff(path)
    change = run_sync(path, work / "journal", full_resync=False)
    assert change["spent_sandbox"] == truth["changed_billable"] == change["spent_ours"], (
        change,
        truth,
    )
    assert measure_diff(path)["values"] == 0, "a second diff after the sync must be empty"
    full_n = min(args.full_resync_size, args.size)
    full_path = work / "full.duckdb"
    full_path.unlink(missing_ok=True)
    build_warehouse(full_path, full_n, args.attributes, args.change_share)
    full = run_sync(full_path, work / "journal_full", full_resync=True)
    scale = args.size / full_n
    full_scaled = {k: full[k] * scale for k in ("seconds", "requests", "spent_sandbox", "objects")}

    rows = [
        ("warehouse build (not part of the sync)", f"{build_s:.1f} s", ""),
        (
            "diff time (best of 2 runs)",
            f"{min(diff['seconds'], diff2['seconds']):.2f} s",
            "goal < 10 s",
        ),
        (
            "diff process CPU time (user + sys, all threads)",
            f"{min(diff['cpu_s'], diff2['cpu_s']):.1f} s",
            "",
        ),
        (
            "machine load average during the diffs",
            f"{diff['load_avg']:.1f}, {diff2['load_avg']:.1f}",
            "2 cores",
        ),
        (
            "diff peak RSS",
            f"{max(diff['peak_rss'], diff2['peak_rss']) / 2**30:.2f} GiB",
            "goal < 4 GB",
        ),
        (
            "values / changed values / changed billable",
            f"{truth['values_per_day']:,} / {truth['changed_values']:,} / {truth['changed_billable']:,}",
            "",
        ),
        ("change sync: objects, requests", f"{change['objects']:,}, {change['requests']:,}", ""),
        (
            "change sync: data points (sandbox / ours / forecast)",
            f"{change['spent_sandbox']:,} / {change['spent_ours']:,} / {change['forecast']:,}",
            "= changed billable values",
        ),
        ("change sync: wall time (diff + send + fold)", f"{change['seconds']:.1f} s", ""),
        (
            f"full resync of {full_n:,} customers: data points, requests, time",
            f"{full['spent_sandbox']:,}, {full['requests']:,}, {full['seconds']:.1f} s",
            "",
        ),
        (
            f"full resync scaled to {args.size:,}: data points, requests, time",
            f"{full_scaled['spent_sandbox']:,.0f}, {full_scaled['requests']:,.0f}, {full_scaled['seconds']:.0f} s",
            "",
        ),
        (
            "ratio full / change: data points",
            f"{full_scaled['spent_sandbox'] / max(1, change['spent_sandbox']):.1f}x",
            "",
        ),
        (
            "ratio full / change: requests",
            f"{full_scaled['requests'] / max(1, change['requests']):.1f}x",
            "",
        ),
        (
            "ratio full / change: time",
            f"{full_scaled['seconds'] / max(1e-9, change['seconds']):.1f}x",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"sync_diff: {args.size:,} customers x {args.attributes} attributes, {args.change_share:.0%} changed; "
        f"{os.cpu_count()} cores, {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>28}  {note}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
