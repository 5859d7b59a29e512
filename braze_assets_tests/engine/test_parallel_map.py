"""map_rows: large per-value maps on worker processes give exactly the in-process results."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from braze_assets.engine import parallel
from braze_assets.engine.duckdb_engine import DuckDBEngine

ROOT = Path(__file__).resolve().parents[2]
needs_two_cores = pytest.mark.skipif(parallel.cores() < 2, reason="one core: maps stay in-process")


def _rows(n: int) -> list[list]:
    return [[f"v{i}" for i in range(n)], [i % 7 for i in range(n)]]


@needs_two_cores
def test_workers_map_in_order_what_this_process_would():
    seen: dict = {}
    suffix = "!"

    def fn(text, k):
        # A closure with state of its own, as the stages pass (their per-process caches).
        seen.setdefault(k, len(seen))
        return text + suffix * k, seen[k], os.getpid()

    columns = _rows(5001)
    mapped = parallel.map_rows(columns, fn, min_values=0)
    assert [m[0] for m in mapped] == [t + "!" * k for t, k in zip(*columns)]
    # The chunks ran in more than one process, this one among them.
    assert len({m[2] for m in mapped}) == parallel.cores()
    assert os.getpid() in {m[2] for m in mapped}


def test_small_maps_stay_in_this_process():
    mapped = parallel.map_rows(_rows(10), lambda text, k: (os.getpid(),), min_values=11)
    assert {m[0] for m in mapped} == {os.getpid()}


@needs_two_cores
def test_an_error_in_a_worker_is_raised_and_the_workers_still_serve():
    def fn(text, k):
        if text == "v4999":  # in the last chunk, mapped by a worker
            raise ValueError("bad value v4999")
        return (text,)

    with pytest.raises(ValueError, match="bad value v4999"):
        parallel.map_rows(_rows(5000), fn, min_values=0)
    assert parallel.map_rows(_rows(5000), lambda t, k: (t,), min_values=0) == [
        (f"v{i}",) for i in range(5000)
    ]


@needs_two_cores
def test_a_dead_worker_fails_the_map_and_the_next_map_starts_afresh():
    parallel.map_rows(_rows(100), lambda t, k: (t,), min_values=0)
    parallel._workers[0].kill()
    parallel._workers[0].wait()
    with pytest.raises(RuntimeError, match="map worker process failed"):
        parallel.map_rows(_rows(100), lambda t, k: (t,), min_values=0)
    assert parallel.map_rows(_rows(100), lambda t, k: (k,), min_values=0)[-1] == (99 % 7,)


@needs_two_cores
def test_a_script_without_a_main_guard_can_map(tmp_path):
    # Workers are fresh interpreters, never a re-run of the caller's script (multiprocessing's
    # spawn would run this script again in each worker and fail).
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from braze_assets.engine.parallel import map_rows
            pids = {r[1] for r in map_rows([list(range(1000))], lambda i: (i, os.getpid()), 0)}
            print("PROCESSES", len(pids))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=True,
    )
    assert f"PROCESSES {parallel.cores()}" in out.stdout


@needs_two_cores
def test_duckdb_map_distinct_table_is_the_same_on_workers(monkeypatch):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'x' || (i % 3000) AS raw FROM range(9000) r(i)")
    engine = DuckDBEngine(con)

    def fn(raw):
        return raw.upper(), len(raw)

    query = "SELECT DISTINCT raw FROM t ORDER BY raw"
    engine.map_distinct("here", query, ["raw"], fn, ["up", "n"], {"n": pa.int64()})
    monkeypatch.setattr(parallel, "MIN_VALUES", 0)
    engine.map_distinct("spread", query, ["raw"], fn, ["up", "n"], {"n": pa.int64()})
    here = con.execute("SELECT * FROM here ORDER BY raw").fetchall()
    assert len(here) == 3000
    assert con.execute("SELECT * FROM spread ORDER BY raw").fetchall() == here
    assert con.execute("DESCRIBE spread").fetchall() == con.execute("DESCRIBE here").fetchall()
