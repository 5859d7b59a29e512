"""Checks that stop Spark mode at startup with one line naming what is missing.

Run before a SparkSession is built (the CLI, the Dagster resource): without them a missing Java
shows as `JAVA_GATEWAY_EXITED`, an unreachable master as a minutes-long hang, and a read-only table
location as a failure deep inside the first stage's write.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from braze_assets.engine.config import SparkConfig

# Spark 4 runs on Java 17 or 21.
MIN_JAVA = 17
CONNECT_TIMEOUT_S = 3.0
# How long the executors' probe may wait for an executor: a cluster with no free cores, or none
# with spark.executor.memory to spare, otherwise leaves the first job waiting for ever. Generous:
# on the test's loaded 2-core machine the first executor and its Python took over 3 minutes.
EXECUTOR_TIMEOUT_S = 600.0
# The modules whose functions the engine sends to the executors (mapInArrow): the executors must
# import them to unpickle those functions, so the probe imports them, with their dependencies.
EXECUTOR_MODULES = (
    "braze_assets.identity.standardise",
    "braze_assets.identity.cluster",
    "braze_assets.attributes.builder",
    "braze_assets.attributes.value_checks",
    "braze_assets.sync.snapshots",
    "braze_assets.audiences.campaigns",
)


class EngineStartupError(RuntimeError):
    """Spark mode cannot start; the message names the missing part and how to provide it."""


def check_spark(spark: SparkConfig) -> None:
    """Raise EngineStartupError for the first missing part: pyspark, Java, the master, the location."""
    _check_pyspark()
    _check_java()
    _check_master(spark.master)
    _check_local_location(spark.location())


def _check_pyspark() -> None:
    if importlib.util.find_spec("pyspark") is None:
        raise EngineStartupError(
            "engine spark needs pyspark, which is not installed: install the `spark` extra "
            "(pip install 'braze-assets[spark]'; ./run installs it from requirements.lock)"
        )


def java_executable() -> str | None:
    """The java Spark's launcher will run: $JAVA_HOME/bin/java when JAVA_HOME is set, else PATH's."""
    home = os.environ.get("JAVA_HOME", "").strip()
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def _check_java() -> None:
    java = java_executable()
    if java is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java"
            if os.environ.get("JAVA_HOME", "").strip()
            else "no `java` on PATH"
        )
        raise EngineStartupError(
            f"engine spark needs Java {MIN_JAVA} or newer: {where}. Install it "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME; "
            "or use engine duckdb, which needs no Java"
        )
    try:
        probe = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineStartupError(f"engine spark: {java} -version failed: {error}") from None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', probe.stderr + probe.stdout)
    if found is None:
        raise EngineStartupError(f"engine spark: could not read the Java version from {java}")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise EngineStartupError(
            f"engine spark needs Java {MIN_JAVA} or newer; {java} is Java {major}. Install "
            "openjdk-17-jre-headless or point JAVA_HOME at a Java 17 or 21"
        )


def is_local_master(master: str) -> bool:
    """Spark inside this process: driver and executors share the machine, its files and Python."""
    return master == "local" or master.startswith(("local[", "local-cluster["))


def _check_master(master: str) -> None:
    if is_local_master(master):
        return
    if master == "yarn":
        if not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
            raise EngineStartupError(
                "engine spark master 'yarn' needs HADOOP_CONF_DIR or YARN_CONF_DIR to find the "
                "cluster; neither is set"
            )
        return
    scheme = master.split("://", 1)[0] if "://" in master else ""
    if scheme == "spark":
        endpoints = [_host_port(f"spark://{hp}", 7077) for hp in master[8:].split(",")]
    elif scheme == "sc":
        raise EngineStartupError(
            f"engine spark master {master!r}: Spark Connect is not supported (the engine needs "
            "the driver's JVM for its table location); use spark://host:port, yarn or k8s://"
        )
    elif scheme == "k8s":
        endpoints = [_host_port(master[6:], 443)]
    else:
        raise EngineStartupError(
            f"engine spark master {master!r} is not one of local[*], spark://host:port, "
            "k8s://https://host:port or yarn"
        )
    problems = []
    for host, port in endpoints:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
            return
        except OSError as error:
            problems.append(f"{host}:{port} ({error.strerror or error})")
    raise EngineStartupError(
        f"engine spark master {master!r} is not reachable: {'; '.join(problems)}. Start the "
        "cluster or set engine.spark.master (local[*] runs Spark in this process)"
    )


def _host_port(uri: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(uri)
    try:
        port = parts.port or default_port
    except ValueError:
        raise EngineStartupError(f"engine spark master {uri!r} has an invalid port") from None
    if not parts.hostname:
        raise EngineStartupError(f"engine spark master {uri!r} has no host")
    return parts.hostname, port


def _check_local_location(location: str) -> None:
    """A local table location must be writable; a URI (s3a://) is checked once Spark runs."""
    if "://" in location and not location.startswith("file://"):
        return
    path = Path(location.removeprefix("file://"))
    probe = path / f".braze_assets_write_probe_{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise EngineStartupError(
            f"engine spark cannot write its table location {path}: "
            f"{error.strerror or error}. Give this user write access or set "
            "engine.spark.table_location"
        ) from None


def check_location_through_spark(session, location: str) -> None:
    """Write and delete a probe through Hadoop's FileSystem: the one check of an s3a:// location
    that uses Spark's own credentials and connector."""
    jvm = session._jvm
    conf = session._jsc.hadoopConfiguration()
    try:
        base = jvm.org.apache.hadoop.fs.Path(location)
        fs = base.getFileSystem(conf)
        probe = jvm.org.apache.hadoop.fs.Path(
            location + f"/.braze_assets_write_probe_{uuid.uuid4().hex}"
        )
        fs.mkdirs(base)
        fs.create(probe, True).close()
        fs.delete(probe, False)
    except Exception as error:  # py4j wraps the JVM's exception
        text = str(error)
        if "S3AFileSystem" in text and "ClassNotFound" in text:
            raise EngineStartupError(
                f"engine spark table location {location}: s3a:// needs hadoop-aws and the AWS SDK "
                "on Spark's classpath (present on EMR and Databricks; elsewhere add the jars with "
                "engine.spark.conf spark.jars)"
            ) from None
        first = next((line for line in text.splitlines() if "Exception" in line), text[:300])
        raise EngineStartupError(
            f"engine spark cannot write its table location {location}: {first.strip()}"
        ) from None


def check_executors(session, location: str, timeout_s: float = EXECUTOR_TIMEOUT_S) -> None:
    """On a cluster, run one small job whose tasks import the modules the engine ships functions
    from and look for a file the driver just wrote in a local table location; stop with one line
    when an executor cannot. Without it a missing braze_assets on the executors shows as a
    ModuleNotFoundError deep inside the first stage, and a local location the executors do not
    share as tables whose files are scattered over the executors' own disks."""
    from braze_assets.engine.spark_engine import local_path

    local = local_path(location)
    marker = None if local is None else Path(local) / f".braze_assets_shared_{uuid.uuid4().hex}"
    if marker is not None:
        marker.write_bytes(b"")
    seen = None if marker is None else str(marker)
    modules = EXECUTOR_MODULES

    # Nested, so cloudpickle sends it by value: it must run where braze_assets does not import.
    def probe(_rows):
        import importlib
        import socket
        import sys
        from os.path import exists

        missing = None
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as error:  # an ImportError, or a dependency failing on import
                missing = f"{name}: {type(error).__name__}: {error}"
                break
        yield socket.gethostname(), sys.executable, missing, seen is None or exists(seen)

    context = session.sparkContext
    tasks = max(context.defaultParallelism, 1)
    group = f"braze_assets_probe_{uuid.uuid4().hex}"
    context.setJobGroup(group, "braze_assets: can the executors run its Python?", True)
    timer = threading.Timer(timeout_s, context.cancelJobGroup, args=(group,))
    timer.start()
    try:
        answers = context.parallelize(range(tasks), tasks).mapPartitions(probe).collect()
    except Exception as error:  # py4j / pyspark wrap the executors' failure
        text = str(error)
        if "cancelled" in text.lower() and not timer.is_alive():
            raise EngineStartupError(
                f"engine spark: no executor ran a task within {timeout_s:.0f} s; the cluster has "
                "no free cores, or no worker with spark.executor.memory to spare"
            ) from None
        first = next((line for line in text.splitlines() if "Error" in line), text[:300])
        raise EngineStartupError(
            f"engine spark: the executors could not run Python: {first.strip()}. Set "
            "engine.spark.conf spark.pyspark.python to a Python on every executor with "
            "braze_assets installed, of the driver's Python version"
        ) from None
    finally:
        timer.cancel()
        context._jsc.clearJobGroup()
        if marker is not None:
            marker.unlink(missing_ok=True)
    for host, python, missing, sees in answers:
        if missing:
            raise EngineStartupError(
                f"engine spark: the executors' Python ({python} on {host}) cannot import "
                f"{missing}. Install braze_assets there (the driver's version, with its "
                "dependencies) or set engine.spark.conf spark.pyspark.python to a Python that "
                "has it"
            )
        if not sees:
            raise EngineStartupError(
                f"engine spark: the table location {local} is a local path that the executor on "
                f"{host} does not share with the driver; use storage every node mounts at the "
                "same path, or an s3a:// location"
            )
