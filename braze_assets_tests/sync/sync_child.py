"""Run one sync in a separate process, so a test can SIGKILL it mid-run.

python -m braze_assets_tests.sync.sync_child WAREHOUSE JOURNAL_ROOT SANDBOX_URL
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.runner import sync_destination


def main(warehouse: str, journal_root: str, url: str) -> None:
    with (
        duckdb.connect(warehouse) as con,
        BrazeClient(DEFAULT_API_KEY, url, concurrency=2) as client,
    ):
        sync_destination(
            con,
            client,
            destination="braze_us",
            identifier_type="external_id",
            clear_attributes=(),
            settings=ResolvedSyncSettings(destination="braze_us", journal_fsync_interval_ms=0),
            journal_root=Path(journal_root),
        )


if __name__ == "__main__":
    main(*sys.argv[1:4])
