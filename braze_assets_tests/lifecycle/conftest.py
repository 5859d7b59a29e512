from __future__ import annotations

import duckdb
import pytest

from braze_assets.sandbox import SandboxServer
from braze_assets.sync.tables import ensure_tables


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_tables(connection)
    yield connection
    connection.close()


@pytest.fixture
def sandbox(tmp_path):
    """The HTTP Braze sandbox, without rate limits, state under the test's directory."""
    server = SandboxServer(tmp_path / "sandbox", rate_limit_requests=None).start()
    yield server
    server.stop()
