"""One local Spark session for the whole test run: starting a JVM costs tens of seconds."""

from __future__ import annotations

import pytest

from braze_assets.engine.config import SparkConfig, SplinkOnSpark

# Small and quiet: two local cores, two shuffle partitions for test-sized data, no web UI.
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory) -> SparkConfig:
    return SparkConfig(
        master="local[2]",
        table_location=str(tmp_path_factory.mktemp("spark") / "tables"),
        conf=TEST_SPARK_CONF,
        # Test-sized data: Splink's work tables fit in the block manager, so no Parquet writes and
        # re-reads (the default, for a cluster).
        splink=SplinkOnSpark(break_lineage="local_checkpoint"),
    )


@pytest.fixture(scope="session")
def spark_session(spark_settings):
    from braze_assets.engine.session import build_session

    session = build_session(spark_settings)
    yield session
    session.stop()
