"""A per-value Python map over every core of this machine, for DuckDBEngine.map_distinct.

DuckDB runs a stage's SQL on all cores, but the normalisers (phonenumbers, name splitting,
address rules) are plain Python and ran on one: at 1M records they were most of the normalise
stage's time. A large map is cut into one contiguous chunk per core, each run by a worker process;
small ones run here, since a worker's start (a fresh interpreter importing the normalisers) costs
more than it saves on them. Spark needs none of this: it already runs map_distinct's function on
its executors.

The workers are fresh interpreters (subprocess), not multiprocessing's: a forked child would
inherit DuckDB's threads' locks mid-use, and multiprocessing's spawn re-runs the parent's main
script in each child, which breaks any script without a `__main__` guard. Each worker takes the
parent's sys.path first (so it imports the same code), then (function, rows) pairs as pickles on
stdin and answers with the results on stdout. The function goes over as cloudpickle bytes (the
serialiser Spark uses for it), so the stages' closures need no rewriting.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable

import cloudpickle

# Maps of fewer values run in this process. Measured on the 1M identity benchmark: a worker takes
# ~1.3 CPU-s to start and import the normalisers (once per process; workers are kept), handing a
# chunk over and back costs ~1 µs a value, and the normalisers take 2-11 µs a value, so below
# ~100k values a map would gain a few tenths of a second at most.
MIN_VALUES = 100_000

_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from braze_assets.engine.parallel import serve; serve()"
)
_workers: list[subprocess.Popen] = []
_lock = threading.Lock()


def cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def serve() -> None:
    """A worker's loop: (function bytes, columns) in, ('ok', results) or ('error', exc) out."""
    tasks = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    # Anything the function prints goes to stderr, never into the answer stream.
    os.dup2(2, 1)
    while True:
        try:
            payload, columns = pickle.load(tasks)
        except EOFError:
            return
        try:
            fn = cloudpickle.loads(payload)
            answer = ("ok", [fn(*args) for args in zip(*columns)])
        except Exception as exc:  # handed to the parent, which raises it
            answer = ("error", exc)
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception or result pickle cannot carry
            pickle.dump(("error", RuntimeError(repr(exc))), answers)
        answers.flush()


def _start() -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    pickle.dump(sys.path, worker.stdin)
    worker.stdin.flush()
    return worker


def worker_cpu_seconds() -> float:
    """CPU seconds the live workers have used (Linux /proc; 0 elsewhere): a stopped worker's
    are in the parent's RUSAGE_CHILDREN, a live one's nowhere else (benchmarks count both)."""
    total = 0.0
    for worker in _workers:
        try:
            with open(f"/proc/{worker.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def stop_workers() -> None:
    for worker in _workers:
        if worker.stdin:
            worker.stdin.close()
    for worker in _workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
    _workers.clear()


atexit.register(stop_workers)


def map_rows(columns: list[list], fn: Callable[..., tuple], min_values: int | None = None) -> list:
    """[fn(*row) for row in zip(*columns)], in order, on all cores when there are enough rows.

    fn must give a row's result from that row alone (as map_distinct requires): each worker
    holds its own copy of fn, so whatever fn caches is cached per chunk."""
    rows = len(columns[0]) if columns else 0
    count = cores()
    if count < 2 or rows < (MIN_VALUES if min_values is None else min_values):
        return [fn(*args) for args in zip(*columns)]
    payload = cloudpickle.dumps(fn)
    size = -(-rows // count)
    chunks = [[c[start : start + size] for c in columns] for start in range(0, rows, size)]
    with _lock:
        # This process maps the first chunk itself while count - 1 workers map the others.
        # Workers are kept for the next map (a stage runs several) and stopped at exit.
        while len(_workers) < len(chunks) - 1:
            _workers.append(_start())
        try:
            for worker, chunk in zip(_workers, chunks[1:]):
                pickle.dump((payload, chunk), worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                worker.stdin.flush()
            try:
                answers = [("ok", [fn(*args) for args in zip(*chunks[0])])]
            except Exception as exc:  # raised below, once the workers answered
                answers = [("error", exc)]
            answers += [pickle.load(worker.stdout) for worker in _workers[: len(chunks) - 1]]
        except BaseException as exc:
            # A worker died (killed, out of memory), its stream broke or the map was interrupted:
            # its answer may still come, so no worker is reused; the next map starts afresh.
            for worker in _workers:
                worker.kill()
            _workers.clear()
            if isinstance(exc, (OSError, EOFError, pickle.UnpicklingError)):
                raise RuntimeError(f"a map worker process failed: {exc!r}") from exc
            raise
    results = []
    for status, value in answers:
        if status == "error":
            raise value
        results += value
    return results
