"""Send order events in a separate process, so a test can SIGKILL it mid-send.

python -m braze_assets_tests.lifecycle.orders_child WAREHOUSE SANDBOX_URL
"""

from __future__ import annotations

import sys

import duckdb

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets_tests.lifecycle.test_orders import send


def main(warehouse: str, url: str) -> None:
    with (
        duckdb.connect(warehouse) as con,
        BrazeClient(DEFAULT_API_KEY, url, concurrency=1) as client,
    ):
        send(con, client, run="child")


if __name__ == "__main__":
    main(*sys.argv[1:3])
