"""Spark mode on a real cluster: a Spark standalone master and one worker, started from the pyspark
package's own jars, so the executors are a JVM of their own with Python workers of their own, not
the driver's process as in local[N]. The demo's sources and `unified_standardised` (its
normalisers run as mapInArrow on the executors) are materialised with the `dagster` CLI, as a
user does, with engine.yaml naming the master, and compared row for row with DuckDB mode.

A pyspark process holds one SparkContext (the shared local[2] session of conftest.py), so every
Spark session here runs in a `dagster` subprocess. Slow (`./run test -m slow`): a master, a worker,
an executor JVM per Spark run and four Dagster runs; the first two tests took 1,789 s niced on a
loaded 2-core machine (docs/operations.md, "Running on a cluster")."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from braze_assets.identity.standardise import TABLE as STANDARDISED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("cluster")]

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"
DEMO_CONFIG = REPO / "braze_assets" / "config" / "demo"
PEOPLE = 100
REGISTER_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """spark://127.0.0.1:port with one worker (1 core, 1 GiB) registered; both die with the
    process group at teardown."""
    import pyspark

    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    master = f"spark://127.0.0.1:{port}"
    spark_class = f"{home}/bin/spark-class org.apache.spark.deploy"
    # One shell, its own process group: the master, the worker, and the executors the worker forks.
    script = (
        f"{spark_class}.master.Master --host 127.0.0.1 --port {port} "
        f"--webui-port {_free_port()} > {root}/master.log 2>&1 &\n"
        f"{spark_class}.worker.Worker {master} --host 127.0.0.1 --cores 1 --memory 1g "
        f"--webui-port 0 --work-dir {root}/work > {root}/worker.log 2>&1 &\n"
        "wait\n"
    )
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        # No REST submission server: it would take the fixed port 6066.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }
    group = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + REGISTER_TIMEOUT_S
        worker_log = root / "worker.log"
        while "Successfully registered with master" not in _text(worker_log):
            assert group.poll() is None, _text(root / "master.log") + _text(worker_log)
            assert time.monotonic() < deadline, _text(worker_log)[-3000:]
            time.sleep(1)
        yield master, root / "work"
    finally:
        os.killpg(group.pid, signal.SIGTERM)
        try:
            group.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(group.pid, signal.SIGKILL)
            group.wait()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    from braze_assets.demo_data import generate_demo_data

    data = tmp_path_factory.mktemp("cluster_data") / "data"
    generate_demo_data(data, people=PEOPLE, as_of=date(2026, 6, 1))
    return data


def _materialise(root: Path, data: Path, engine: str, spark_yaml: str, select: str):
    """`dagster asset materialize` of `select` on `engine`, in a project of its own (the demo's
    config plus engine.yaml); returns the finished process."""
    config, home, own_data = root / "config", root / "home", root / "data"
    shutil.copytree(DEMO_CONFIG, config)
    shutil.copytree(data, own_data)
    home.mkdir()
    (config / "engine.yaml").write_text(f"engine:\n  name: {engine}\n{spark_yaml}")
    (root / "run.yaml").write_text("execution:\n  config:\n    in_process: {}\n")
    env = {
        **os.environ,
        "BRAZE_ASSETS_CONFIG_DIR": str(config),
        "BRAZE_ASSETS_DATA_DIR": str(own_data),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    env.pop("BRAZE_ASSETS_ENGINE", None)
    command = [str(DAGSTER), "asset", "materialize", "-m", "braze_assets.definitions"]
    command += ["--select", select, "-c", str(root / "run.yaml")]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=1500, check=False
    )


def _cluster_yaml(master: str, tables: Path, python: str, pythonpath: str | None) -> str:
    conf = {
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "1g",
        "spark.executor.memory": "512m",
        # The executors' Python: what a user sets to a Python on every node with braze_assets.
        "spark.pyspark.python": python,
    }
    if pythonpath:
        # This checkout, not the editable install's: the executors must run the driver's code.
        conf["spark.executorEnv.PYTHONPATH"] = pythonpath
    lines = "".join(f"      {k}: {v}\n" for k, v in conf.items())
    return (
        f"  spark:\n    master: {master}\n    table_location: {tables}\n"
        f"    splink:\n      break_lineage: local_checkpoint\n    conf:\n{lines}"
    )


def _rows(table: pa.Table) -> list[tuple]:
    columns = sorted(table.column_names)
    return sorted((tuple(r[c] for c in columns) for r in table.to_pylist()), key=repr)


def test_standardise_on_a_standalone_cluster_equals_duckdb_mode(
    standalone_cluster, demo_data, tmp_path
):
    master, work = standalone_cluster
    tables = tmp_path / "tables"
    started = time.monotonic()
    spark = _materialise(
        tmp_path / "spark",
        demo_data,
        "spark",
        _cluster_yaml(master, tables, sys.executable, str(REPO)),
        f"*{STANDARDISED}",
    )
    spark_s = time.monotonic() - started
    assert spark.returncode == 0, (spark.stdout + spark.stderr)[-6000:]
    duck = _materialise(tmp_path / "duckdb", demo_data, "duckdb", "", f"*{STANDARDISED}")
    assert duck.returncode == 0, (duck.stdout + duck.stderr)[-6000:]
    print(f"spark on the standalone cluster: {spark_s:.0f} s")

    # The normalisers ran in the worker's executor JVM, in Python workers it started.
    executor_logs = "".join(_text(p) for p in work.rglob("stderr"))
    assert "Starting Python task execution" in executor_logs
    assert "MapInBatch" in executor_logs or "MapInArrow" in executor_logs

    # The raw tables the driver's DuckDB wrote, and the table the executors wrote, share the
    # location: the Spark table read by DuckDB equals DuckDB mode's, row for row, every column.
    files = [
        str(p)
        for p in (tables / STANDARDISED).rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(tables).parts)
    ]
    assert files
    with duckdb.connect() as con:
        on_spark = con.execute("SELECT * FROM read_parquet(?)", [files]).to_arrow_table()
    warehouse = tmp_path / "duckdb" / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        on_duckdb = con.execute(f"SELECT * FROM {STANDARDISED}").to_arrow_table()
    assert sorted(on_spark.column_names) == sorted(on_duckdb.column_names)
    assert on_duckdb.num_rows > 0
    assert _rows(on_spark) == _rows(on_duckdb)


def test_executors_without_braze_assets_stop_spark_mode_with_one_line(
    standalone_cluster, demo_data, tmp_path
):
    """Executors whose Python has no site-packages (no braze_assets, no pyarrow): the startup
    probe stops the run naming the Python and the module, before any stage runs."""
    master, _work = standalone_cluster
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    run = _materialise(
        tmp_path / "p",
        demo_data,
        "spark",
        _cluster_yaml(master, tmp_path / "tables", str(bare), None),
        "raw_pos",
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "engine spark: the executors' Python" in output, output[-6000:]
    assert "cannot import braze_assets.identity.standardise: ModuleNotFoundError" in output


def _can_unshare_mounts() -> bool:
    try:
        probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    except OSError:
        return False
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare_mounts(), reason="needs unshare --mount (CAP_SYS_ADMIN)")
def test_a_table_location_the_executors_do_not_share_stops_spark_mode(
    standalone_cluster, demo_data, tmp_path
):
    """A local table location that is another directory on the executors' machine: their Python
    runs in a mount namespace of its own with an empty tmpfs over the location, as a node whose
    local disk holds the same path would. The startup probe refuses it with one line, instead of
    tables whose files end up split between the driver's disk and the executors'."""
    master, _work = standalone_cluster
    tables = tmp_path / "tables"
    tables.mkdir()
    elsewhere = tmp_path / "python-elsewhere"
    elsewhere.write_text(
        "#!/bin/sh\n"
        'exec unshare --mount sh -c \'mount -t tmpfs none "$0" && exec "$@"\' '
        f'{tables} {sys.executable} "$@"\n'
    )
    elsewhere.chmod(0o755)
    run = _materialise(
        tmp_path / "p",
        demo_data,
        "spark",
        _cluster_yaml(master, tables, str(elsewhere), str(REPO)),
        "raw_pos",
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert f"engine spark: the table location {tables} is a local path that the executor" in (
        output
    ), output[-6000:]
