"""Run one sync in a separate process, so a test can SIGKILL it mid-run.

python -m braze_assets_tests.sync.sync_child WAREHOUSE JOURNAL_ROOT SANDBOX_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets_tests.sync.conftest import sync_us


def main(warehouse: str, journal_root: str, url: str) -> None:
    with (
        duckdb.connect(warehouse) as con,
        BrazeClient(DEFAULT_API_KEY, url, concurrency=2) as client,
    ):
        sync_us(con, client, Path(journal_root), journal_fsync_interval_ms=0)


if __name__ == "__main__":
    main(*sys.argv[1:4])
