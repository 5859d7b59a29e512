"""A small, hand-checkable customer table in a real DuckDB file, and a helper to load audience configs."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from braze_assets.audiences.config import AudiencesConfig

AS_OF = datetime(2024, 6, 15, 0, 0)

# The tests own their column catalogue so they do not depend on the attributes catalogue's final names.
COLUMNS = {
    "customer_id": "VARCHAR",
    "external_id": "VARCHAR",
    "loyalty_tier": "VARCHAR",
    "l12m_revenue": "DECIMAL(10,2)",
    "email": "VARCHAR",
    "city": "VARCHAR",
    "birthdate": "DATE",
    "signup_date": "DATE",
    "latest_order_at": "TIMESTAMP",
    "one_and_done": "BOOLEAN",
    "sources": "VARCHAR[]",
    "order_count": "INTEGER",
}

# One customer a line, the columns in COLUMNS' order: a table to read across.
# fmt: off
ROWS = [
    ("c1", "E1", "gold", 1200.00, "ann@example.com", "Boston", date(1980, 5, 1), date(2024, 6, 14), datetime(2024, 6, 10, 9), False, ["ecommerce", "loyalty"], 12),
    ("c2", "E2", "silver", 300.00, "bob@shop.com", "Boston", date(1990, 1, 15), date(2024, 5, 1), datetime(2024, 5, 20, 12), False, ["ecommerce"], 4),
    ("c3", None, None, 0.00, None, "Austin", None, date(2020, 1, 1), None, None, ["newsletter"], 0),
    ("c4", "E4", "gold", 640.50, "dana@example.com", "Austin", date(1975, 12, 31), date(2021, 3, 3), datetime(2024, 3, 1, 8), True, ["loyalty"], 1),
    ("c5", "E5", "bronze", 80.00, "eve@mail.com", "Denver", date(2001, 7, 4), date(2024, 6, 1), datetime(2023, 11, 30, 23), True, ["ecommerce"], 1),
    ("c6", "E6", "platinum", 5000.00, "frank@example.com", None, date(1985, 2, 28), date(2019, 8, 8), datetime(2024, 6, 14, 18, 30), False, ["ecommerce", "loyalty"], 30),
    ("c7", "E7", "silver", None, "gina@shop.com", "Seattle", date(1995, 9, 9), date(2022, 2, 2), datetime(2024, 6, 1), False, ["loyalty"], 2),
    ("c8", "E8", None, 150.00, "hal@example.com", "Boston", date(1960, 10, 10), date(2023, 1, 1), datetime(2024, 1, 15, 10), True, None, 1),
]
# fmt: on


def create_source(con: duckdb.DuckDBPyConnection, rows: list[tuple] = ROWS) -> None:
    columns = ", ".join(f"{name} {type_}" for name, type_ in COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE customer_attribute_source ({columns})")
    if rows:
        con.executemany(
            f"INSERT INTO customer_attribute_source VALUES ({', '.join('?' for _ in COLUMNS)})",
            rows,
        )
    con.execute(
        "CREATE OR REPLACE TABLE customer_360 AS SELECT customer_id, external_id, email, city FROM customer_attribute_source"
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_source(con)
    return path


def load(section: dict[str, Any], config_dir: Path | None = None) -> AudiencesConfig:
    return AudiencesConfig.model_validate(
        section, context={"config_dir": str(config_dir) if config_dir else None}
    )


def segments(**where: Any) -> AudiencesConfig:
    """One segment per keyword: `segments(vip={...})`."""
    return load({"segments": [{"name": name, "where": w} for name, w in where.items()]})
