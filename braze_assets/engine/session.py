"""Build the SparkSession for Spark mode, after the startup checks."""

from __future__ import annotations

import os
import sys

from braze_assets.engine.config import SparkConfig
from braze_assets.engine.startup import (
    check_executors,
    check_location_through_spark,
    check_spark,
    is_local_master,
)

# Spark's setting for the executors' Python; spark-submit turns it into PYSPARK_PYTHON, which is
# all pyspark reads when the driver is a plain Python process (Dagster, the CLI).
EXECUTOR_PYTHON = "spark.pyspark.python"


def spark_conf(spark: SparkConfig) -> dict[str, str]:
    """The session's conf: the project's defaults under the user's engine.spark.conf."""
    # Splink's similarity functions (jaro_winkler, damerau_levenshtein) are Scala UDFs in a jar
    # that ships inside the splink package; spark.jars sends it to the executors too.
    given = [j for j in spark.conf.get("spark.jars", "").split(",") if j]
    jars = ",".join(dict.fromkeys([_splink_jar(), *given]))
    return {
        "spark.master": spark.master,
        "spark.app.name": "braze_assets",
        # Timestamps in the tables are naive UTC, as in DuckDB; a session in the machine's zone
        # would shift those parsed from text with an offset.
        "spark.sql.session.timeZone": "UTC",
        # DuckDB's TIMESTAMP has no zone: parse text into Spark's TIMESTAMP_NTZ, its equal.
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        # Instants (DuckDB's TIMESTAMPTZ, Spark's TIMESTAMP_LTZ) as Parquet timestamps adjusted to
        # UTC, which DuckDB reads back as TIMESTAMPTZ; Spark's default, INT96, reads as TIMESTAMP
        # and the warehouse copy (copy_to_warehouse) would lose the zone.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.ui.showConsoleProgress": "false",
        **spark.conf,
        "spark.jars": jars,
    }


def _splink_jar() -> str:
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def build_session(spark: SparkConfig):
    check_spark(spark)
    from pyspark.sql import SparkSession

    local = is_local_master(spark.master)
    if EXECUTOR_PYTHON in spark.conf:
        os.environ["PYSPARK_PYTHON"] = spark.conf[EXECUTOR_PYTHON]
    elif local:
        # Python workers run the shared normalisers, so they need this interpreter's packages;
        # pyspark starts `python3` from PATH unless PYSPARK_PYTHON says otherwise. On a cluster
        # the executors run their own Python, with braze_assets installed (docs/operations.md),
        # which the executors' probe checks.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    builder = SparkSession.builder
    for key, value in spark_conf(spark).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    check_location_through_spark(session, spark.location())
    if not local:
        try:
            check_executors(session, spark.location())
        except Exception:
            session.stop()  # give the cluster its cores back
            raise
    return session
