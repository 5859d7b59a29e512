"""The `engine` config section: which engine runs the stages, and how to reach Spark.

```yaml
engine:
  name: spark            # or duckdb (the default); BRAZE_ASSETS_ENGINE overrides it
  spark:
    master: local[*]     # spark://host:7077, yarn, k8s://..., local[4]
    table_location: /data/tables   # or s3a://bucket/prefix; default: <data dir>/spark_tables
    conf:
      spark.executor.memory: 4g
    splink:
      break_lineage: parquet   # or local_checkpoint (small data: no work files)
```

`engine: spark` (a plain name) is accepted as short for `engine: {name: spark}`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from braze_assets import settings
from braze_assets.errors import ConfigError
from braze_assets.strict import StrictModel

ENV_ENGINE = "BRAZE_ASSETS_ENGINE"
ENGINES = ("duckdb", "spark")
EngineName = Literal["duckdb", "spark"]


class SplinkOnSpark(StrictModel):
    """How Splink (the identity stage's matching) runs on Spark: its SparkAPI settings.

    The defaults are for a cluster. Splink cuts the lineage of its large intermediate tables
    (blocked pairs, comparison vectors, predictions) by writing each as Parquet under the table
    location and reading it back (its own default outside Databricks): at scale those tables
    outgrow executor memory, and a lost executor then costs a re-read, not a rerun of blocking
    and comparison. On small local data the writes and re-reads are a large part of each step, so
    `local_checkpoint` (computed once into Spark's block manager, plan cut) is cheaper there; the
    tests use it. Splink's `persist` is not offered: it keeps the whole plan, which every EM
    iteration then plans again (it doubled EM's time in the parity test)."""

    break_lineage: Literal["parquet", "checkpoint", "local_checkpoint"] = Field(
        "parquet",
        description="How Splink cuts the lineage of its intermediate tables: parquet (write and "
        "re-read under <table_location>/_splink_work; for a cluster), checkpoint (Spark's "
        "reliable checkpoint, in the same directory unless the session has one) or "
        "local_checkpoint (kept in the executors' block managers, lost with an executor; for "
        "small data).",
    )
    num_partitions_on_repartition: int | None = Field(
        None,
        ge=1,
        description="Partitions Splink repartitions its largest tables into (some of its tables "
        "take a fraction of it). Default: half of spark.sql.shuffle.partitions.",
    )
    repartition_after_blocking: bool = Field(
        False,
        description="Repartition the blocked pairs before comparing them: evens out skewed "
        "blocks on a cluster at the cost of one more shuffle.",
    )


class SparkConfig(StrictModel):
    master: str = Field(
        "local[*]",
        description="Spark master: local[*] (Spark inside this process), spark://host:7077, "
        "k8s://https://host:port or yarn; reachability is checked at startup. Spark Connect "
        "(sc://) is not supported: the engine uses the driver's JVM. Off local mode, a first "
        "job checks that the executors import braze_assets (conf spark.pyspark.python names "
        "their Python) and see a local table_location.",
    )
    table_location: str | None = Field(
        None,
        description="Where Spark mode stores its tables (one Parquet directory each): a local "
        "directory or an s3a:// URI. Default: <data dir>/spark_tables. Must be writable at "
        "startup; on a cluster a local directory must be shared storage every node mounts at "
        "the same path.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings (e.g. spark.executor.memory: 4g), applied over the "
        "project's defaults.",
    )
    splink: SplinkOnSpark = Field(
        default_factory=SplinkOnSpark,
        description="How Splink runs on Spark (the identity stage's matching).",
    )
    warehouse_memory_limit: str = Field(
        "256MB",
        description="DuckDB's memory_limit in the driver process in Spark mode (DuckDB spills "
        "beyond it). Spark mode still keeps a DuckDB warehouse beside the Spark tables (the "
        "loaders of the sources Spark does not read, copies for the stages that read it); uncapped, DuckDB caches what it "
        "writes up to 80% of RAM and the driver grows with the data. Small enough to bind from "
        "1M records on, so the driver stays flat as the data grows (benchmarks/README.md, round "
        "8). BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT overrides it.",
    )

    @field_validator("master")
    @classmethod
    def _master(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("master must not be empty (e.g. local[*] or spark://host:7077)")
        return value.strip()

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_strings(cls, value: Any) -> Any:
        # YAML reads `spark.executor.cores: 4` as an int; Spark's conf is all strings.
        if isinstance(value, dict):
            return {
                str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()
            }
        return value

    @field_validator("warehouse_memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        # DuckDB itself judges the size, so the config accepts exactly what SET accepts.
        import duckdb

        from braze_assets.warehouse import set_memory_limit

        try:
            with duckdb.connect(":memory:") as con:
                set_memory_limit(con, value)
        except duckdb.Error as error:
            raise ValueError(
                f"{value!r} is not a DuckDB memory size such as '1GB' or '512MiB': "
                f"{str(error).splitlines()[0]}"
            ) from None
        return value.strip()

    def location(self) -> str:
        """Where Spark tables live: a local absolute path or a URI such as s3a://bucket/prefix."""
        if self.table_location is None:
            return str(settings.data_dir() / "spark_tables")
        if "://" in self.table_location:
            return self.table_location.rstrip("/")
        return str(Path(self.table_location).expanduser().resolve())


class EngineConfig(StrictModel):
    name: EngineName = Field(
        "duckdb",
        description="duckdb (embedded, no Java) or spark; the environment variable "
        "BRAZE_ASSETS_ENGINE overrides it. `engine: spark` is short for `engine: {name: spark}`.",
    )
    spark: SparkConfig = Field(
        default_factory=SparkConfig, description="How to reach Spark when name is spark."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


def effective_engine(config: EngineConfig) -> EngineConfig:
    """The config's engine section with BRAZE_ASSETS_ENGINE applied over its `name`."""
    raw = os.environ.get(ENV_ENGINE, "").strip().lower()
    if not raw:
        return config
    if raw not in ENGINES:
        raise ConfigError(
            f"{ENV_ENGINE}={raw!r} is not an engine; choose one of: {', '.join(ENGINES)}"
        )
    return config.model_copy(update={"name": raw})
