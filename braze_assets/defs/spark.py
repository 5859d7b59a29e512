"""The Spark resource: dagster-pyspark's LazyPySparkResource, whose session is built only when an
asset first asks for it (after the startup checks), plus the Engine over it.

dg.load_from_defs_folder imports every module under defs/, this one too, in DuckDB mode as well:
the resource class is made on first use, so DuckDB mode never imports pyspark (seconds of CPU in
every Dagster and CLI process) and runs without it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from braze_assets.engine.config import SparkConfig
from braze_assets.engine.session import build_session, spark_conf


@cache
def spark_resource_class() -> type:
    from dagster_pyspark import LazyPySparkResource

    class SparkEngineResource(LazyPySparkResource):
        """dagster-pyspark's lazy session resource, built by braze_assets' checked builder."""

        table_location: str

        def _init_session(self) -> None:
            if self._spark_session is None:
                self._spark_session = build_session(self.spark_settings())

        def spark_settings(self) -> SparkConfig:
            conf = dict(self.spark_config)
            master = conf.pop("spark.master", "local[*]")
            return SparkConfig(master=master, table_location=self.table_location, conf=conf)

        def engine(self):
            from braze_assets.engine.spark_engine import SparkEngine

            return SparkEngine(self.spark_session, self.table_location)

    return SparkEngineResource


def spark_resource(spark: SparkConfig):
    conf: dict[str, Any] = spark_conf(spark)
    return spark_resource_class()(spark_config=conf, table_location=spark.location())
