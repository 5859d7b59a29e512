"""Sync payloads: changes -> /users/track rows, CPU per million profiles.

    .venv/bin/python benchmarks/sync_payloads.py [--size 1000000] [--changes 2]

Builds a `changes` frame shaped like the diff's output (`--changes` value changes per profile, plus
an array membership join on every tenth profile), then times `build_rows` and the client's
per-request join of 75 rows, both in CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from braze_assets.sync.payloads import build_rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def changes_frame(size: int, per_profile: int) -> pl.DataFrame:
    base = pl.DataFrame({"obj_idx": pl.int_range(0, size, eager=True)}).with_columns(
        identifier=pl.format("cust-{}", pl.col("obj_idx")), element=pl.lit(""), kind=pl.lit("value")
    )
    parts = [
        base.with_columns(
            attribute=pl.lit(f"attr_{k:02d}"),
            op=pl.lit("change"),
            value_json=(pl.col("obj_idx") * (k + 3) % 1000).cast(pl.String) + ".25",
        )
        for k in range(per_profile)
    ]
    parts.append(
        base.filter(pl.col("obj_idx") % 10 == 0).with_columns(
            attribute=pl.lit("campaigns"),
            element=pl.lit("winback_lapsing"),
            kind=pl.lit("membership_array"),
            op=pl.lit("join"),
            value_json=pl.lit('"winback_lapsing"'),
        )
    )
    columns = ["obj_idx", "identifier", "attribute", "element", "kind", "op", "value_json"]
    return pl.concat([p.select(columns) for p in parts]).sort("obj_idx", "attribute", "element")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=2, help="value changes per profile")
    args = parser.parse_args()
    changes = changes_frame(args.size, args.changes)
    started, cpu = time.perf_counter(), _cpu()
    rows = build_rows(changes, "external_id", True)
    build_wall, build_cpu = time.perf_counter() - started, _cpu() - cpu
    cpu = _cpu()
    bodies = [
        b'{"attributes":[' + b",".join(rows[i : i + 75]) + b"]}" for i in range(0, len(rows), 75)
    ]
    join_cpu = _cpu() - cpu
    per_million = 1_000_000 / len(rows)
    print(
        f"{len(rows):,} profiles, {changes.height:,} changes, {sum(map(len, bodies)) / 2**20:.0f} MiB of request bodies"
    )
    print(
        f"build_rows: {build_cpu:.2f} CPU s ({build_cpu * per_million:.2f} per million profiles), {build_wall:.2f} s wall"
    )
    print(f"request bodies (75 rows each): {join_cpu:.2f} CPU s")
    print(f"example row: {rows[0].decode()}")


if __name__ == "__main__":
    main()
