from __future__ import annotations

import duckdb
import pytest

from braze_assets.sync.tables import ensure_tables


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_tables(connection)
    yield connection
    connection.close()
