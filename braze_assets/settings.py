"""Where things live and which environment variables configure them.

Every path the project touches is derived from one data dir so a demo, a test and a production
deployment can sit side by side without sharing state.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "BRAZE_ASSETS_DATA_DIR"
ENV_CONFIG_DIR = "BRAZE_ASSETS_CONFIG_DIR"
ENV_BRAZE_API_KEY = "BRAZE_API_KEY"
ENV_BRAZE_INSTANCE = "BRAZE_INSTANCE"
ENV_BRAZE_REST_ENDPOINT = "BRAZE_REST_ENDPOINT"
ENV_BRAZE_TIMEOUT_S = "BRAZE_TIMEOUT_S"
ENV_BRAZE_RETRY_BUDGET_S = "BRAZE_RETRY_BUDGET_S"
ENV_CURRENTS_BUCKET = "CURRENTS_S3_BUCKET"
ENV_CURRENTS_PREFIX = "CURRENTS_S3_PREFIX"
ENV_WAREHOUSE_MEMORY_LIMIT = "BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEMO_CONFIG_DIR = PACKAGE_DIR / "config" / "demo"


def data_dir() -> Path:
    return Path(os.environ.get(ENV_DATA_DIR) or PROJECT_DIR / "data").expanduser().resolve()


def config_dir() -> Path:
    configured = os.environ.get(ENV_CONFIG_DIR)
    return Path(configured).expanduser().resolve() if configured else DEMO_CONFIG_DIR


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def warehouse_memory_limit() -> str | None:
    """DuckDB's memory_limit for warehouse connections (e.g. `2GB`); unset keeps DuckDB's default."""
    return os.environ.get(ENV_WAREHOUSE_MEMORY_LIMIT, "").strip() or None


def sandbox_state_dir() -> Path:
    return data_dir() / "braze_sandbox"


ENV_AUDIENCE_SQL_TIMEOUT_S = "BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S"
# Long enough for an honest audience over a large warehouse, short enough that a runaway cross join
# does not hold the warehouse pool for hours.
DEFAULT_AUDIENCE_SQL_TIMEOUT_S = 600.0


def audience_sql_timeout_s() -> float:
    """Seconds one audience query may run before it is interrupted (BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S)."""
    return seconds_from_env(ENV_AUDIENCE_SQL_TIMEOUT_S, DEFAULT_AUDIENCE_SQL_TIMEOUT_S)


def seconds_from_env(name: str, default: float, *, allow_zero: bool = False) -> float:
    """A finite number of seconds from environment variable `name` (`default` when unset or
    blank); a ValueError naming the variable when it is not one, or not > 0 (>= 0 with
    `allow_zero`)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 or (allow_zero and value == 0)) or value == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={raw!r} must be a number of seconds {bound}")
    return value
