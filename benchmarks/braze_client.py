"""Braze client benchmark against the local sandbox running in a separate process.

    .venv/bin/python benchmarks/braze_client.py [--size 1000000] [--limit auto]

Reports, in one run:
  * client CPU seconds per million objects, starting from the attributes table (a polars
    DataFrame): table -> dicts -> /users/track, and table -> NDJSON rows -> /users/track;
  * objects/s with the sandbox's rate limit off;
  * the achieved share of a configured rate limit (sandbox limit on, same limit in the client),
    counted per fixed window in the sandbox's request log, and the number of 429s;
  * a naive client (sequential requests.post, no session, no pooling) on a slice, as a ratio.
Only the client process's CPU time is measured (time.process_time); the sandbox runs in its own
process.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from braze_assets.braze import BrazeClient

KEY = "sandbox-key"
PERIOD_S = 3.0


def attributes_table(n: int) -> pl.DataFrame:
    """A customer attributes table shaped like braze_customer_attributes (9 columns)."""
    i = pl.int_range(0, n, eager=True)
    return pl.DataFrame(
        {
            "external_id": ("cust-" + i.cast(pl.String).str.zfill(8)),
            "first_name": pl.Series(["Anna", "Ben", "Chloé", "Dev", "Eva"] * (n // 5 + 1))[:n],
            "last_name": pl.Series(["Smith", "Müller", "García", "Kowalski"] * (n // 4 + 1))[:n],
            "email": ("user" + i.cast(pl.String) + "@example.com"),
            "dob": pl.Series(["1984-03-07", "1990-11-30", "2001-01-01"] * (n // 3 + 1))[:n],
            "country": pl.Series(["DE", "US", "FR", "GB", "JP"] * (n // 5 + 1))[:n],
            "lifetime_value": (i % 9973).cast(pl.Float64) / 7.0,
            "orders_count": (i % 41).cast(pl.Int64),
            "is_vip": (i % 7) == 0,
        }
    )


class Sandbox:
    def __init__(self, rate_limit: int | None) -> None:
        args = [
            sys.executable,
            "-m",
            "braze_assets.sandbox",
            "--port",
            "0",
            "--rate-limit",
            "off" if rate_limit is None else str(rate_limit),
            "--rate-period",
            str(PERIOD_S),
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
        )
        self.url = self.proc.stdout.readline().split()[-1]

    def get(self, name: str):
        return requests.get(f"{self.url}/_sandbox/{name}", timeout=60).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(label: str, work) -> dict:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    count, extra = work()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "label": label,
        "objects": count,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_per_million": cpu / count * 1e6,
        "objects_per_s": count / wall,
        **extra,
    }


def run_client(table: pl.DataFrame, url: str, mode: str, **settings) -> tuple[int, dict]:
    with BrazeClient(KEY, url, **settings) as client:
        if mode == "dicts":
            objects = table.to_dicts()
        else:
            buffer = io.BytesIO()
            table.write_ndjson(buffer)
            objects = buffer.getvalue().splitlines()
        result = client.track_attributes(objects)
    assert result.delivered == table.height, (
        result.delivered,
        result.not_delivered,
        result.rejected,
    )
    return table.height, {
        "requests": result.requests,
        "retries": result.retries,
        "rate_limited": result.rate_limited,
    }


def run_naive(table: pl.DataFrame, url: str) -> tuple[int, dict]:
    objects = table.to_dicts()
    for start in range(0, len(objects), 75):
        reply = requests.post(
            f"{url}/users/track",
            json={"attributes": objects[start : start + 75]},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        reply.raise_for_status()
    return len(objects), {"requests": math.ceil(len(objects) / 75)}


def window_counts(log: list[dict]) -> list[int]:
    """Requests per fixed window, without the first and last (partial) windows."""
    per_window = Counter(
        int(entry["time"] // PERIOD_S) for entry in log if entry["path"] == "/users/track"
    )
    return [per_window[w] for w in sorted(per_window)[1:-1]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=int, default=1_000_000, help="objects for the unlimited runs"
    )
    parser.add_argument(
        "--limit",
        default="auto",
        help="requests per 3 s for the rate-limited run; 'auto' = 65%% of the measured ceiling",
    )
    parser.add_argument(
        "--limited-seconds", type=float, default=30.0, help="length of the rate-limited run"
    )
    parser.add_argument(
        "--naive-size", type=int, default=30_000, help="objects for the naive baseline"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    table = attributes_table(args.size)
    rows: list[dict] = []

    sandbox = Sandbox(rate_limit=None)
    try:
        unlimited = dict(
            rate_limit_requests=10**9, rate_limit_period_s=PERIOD_S, concurrency=args.concurrency
        )
        rows.append(
            measure(
                "client: table -> dicts -> track",
                lambda: run_client(table, sandbox.url, "dicts", **unlimited),
            )
        )
        sandbox.reset()
        rows.append(
            measure(
                "client: table -> NDJSON rows -> track",
                lambda: run_client(table, sandbox.url, "ndjson", **unlimited),
            )
        )
        sandbox.reset()
        naive_table = table.head(args.naive_size)
        rows.append(
            measure(
                "naive: table -> dicts -> requests.post",
                lambda: run_naive(naive_table, sandbox.url),
            )
        )
        sandbox.reset()
        rows.append(
            measure(
                "client, same slice as naive",
                lambda: run_client(naive_table, sandbox.url, "dicts", **unlimited),
            )
        )
    finally:
        sandbox.stop()

    ceiling_rps = max(r["requests"] / r["wall_s"] for r in rows[:2])
    if args.limit == "auto":
        # Headroom: the sandbox shares the 2 cores with the client (and whatever else runs).
        limit = min(3000, int(ceiling_rps * PERIOD_S * 0.65) // 100 * 100)
    else:
        limit = int(args.limit)
    limited_n = int(limit / PERIOD_S * 75 * args.limited_seconds)
    limited_table = (
        table.head(limited_n) if limited_n <= table.height else attributes_table(limited_n)
    )
    sandbox = Sandbox(rate_limit=limit)
    try:
        limited = measure(
            f"client, sandbox limit {limit}/3 s",
            lambda: run_client(
                limited_table,
                sandbox.url,
                "ndjson",
                rate_limit_requests=limit,
                rate_limit_period_s=PERIOD_S,
                concurrency=args.concurrency,
            ),
        )
        log = sandbox.get("requests")["requests"]
        stats = sandbox.get("stats")
    finally:
        sandbox.stop()
    counts = window_counts(log)
    share = sum(counts) / len(counts) / limit if counts else 0.0
    rows.append(limited)

    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}; python {platform.python_version()}"
    )
    print(
        f"{'run':44} {'objects':>9} {'CPU s':>7} {'CPU s/M':>8} {'wall s':>7} {'objects/s':>10} {'req':>6}"
    )
    for row in rows:
        print(
            f"{row['label']:44} {row['objects']:>9,} {row['cpu_s']:>7.2f} {row['cpu_per_million']:>8.2f} "
            f"{row['wall_s']:>7.1f} {row['objects_per_s']:>10,.0f} {row['requests']:>6,}"
        )
    naive, same_slice = rows[2], rows[3]
    print(
        f"\nnaive / client CPU per object (same slice): {naive['cpu_per_million'] / same_slice['cpu_per_million']:.1f}x;"
        f" client / naive objects/s: {same_slice['objects_per_s'] / naive['objects_per_s']:.1f}x"
        f" (full-size client run: {rows[0]['objects_per_s'] / naive['objects_per_s']:.1f}x)"
    )
    print(
        f"rate-limited run: limit {limit} requests / 3 s (unlimited ceiling measured {ceiling_rps:.0f} req/s); "
        f"achieved {share:.1%} of the limit over {len(counts)} full windows (per window: {counts}); "
        f"429s seen by the sandbox: {stats['statuses'].get('429', 0)}, by the client: {limited['rate_limited']}"
    )


if __name__ == "__main__":
    main()
