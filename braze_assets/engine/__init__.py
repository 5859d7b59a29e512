"""Which engine runs the stages (DuckDB or Spark). Importing this package never imports pyspark."""

from __future__ import annotations

from braze_assets.engine.config import ENV_ENGINE, EngineConfig, SparkConfig, effective_engine
from braze_assets.engine.startup import EngineStartupError, check_spark

__all__ = [
    "ENV_ENGINE",
    "EngineConfig",
    "EngineStartupError",
    "SparkConfig",
    "check_engine",
    "check_spark",
    "effective_engine",
]


def check_engine(engine: EngineConfig) -> None:
    """Stop at startup with one line when the chosen engine cannot run; DuckDB needs nothing."""
    if engine.name == "spark":
        check_spark(engine.spark)
