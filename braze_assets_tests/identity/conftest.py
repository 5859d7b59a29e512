from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from braze_assets.identity.config import IdentityConfig
from braze_assets_tests.identity.fixtures import demo_config, load_sources, write_demo_sources


@pytest.fixture(scope="session")
def identity() -> IdentityConfig:
    # Small inputs: fewer u-sampling pairs keep the suite fast without changing any code path.
    return IdentityConfig.model_validate({"training": {"u_max_pairs": 2e5}})


@pytest.fixture()
def demo_warehouse(tmp_path: Path):
    """A real DuckDB file holding the four demo sources for 150 invented people."""
    write_demo_sources(tmp_path, 150)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    config = demo_config()
    load_sources(con, config, tmp_path)
    yield con, config, tmp_path
    con.close()
