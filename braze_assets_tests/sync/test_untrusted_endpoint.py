"""A sync whose every batch fails (a proxy's HTML 200, a 400 on every batch) over a real local
HTTP server: it fails with one line saying why, confirms nothing, and a rerun against the real
sandbox sends every row."""

from __future__ import annotations

import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY, SandboxServer
from braze_assets.sync.runner import SyncFailed
from braze_assets.sync.snapshots import build_snapshot
from braze_assets.sync.tables import CONFIRMED, RUNS
from braze_assets_tests.braze.test_client_untrusted_answers import answering
from braze_assets_tests.sync.conftest import DAY1, destination_config, put_customer_attributes
from braze_assets_tests.sync.test_sandbox import customers, sync

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "status, body, content_type, expected",
    [
        (200, b"<html>Sign in to the wifi</html>", "text/html", "HTTP 200 (text/html)"),
        (400, b'{"message": "Bad syntax"}', "application/json", "HTTP 400: Bad syntax"),
    ],
)
def test_a_sync_where_every_batch_fails_fails_with_the_reason(
    con, tmp_path, status, body, content_type, expected
):
    people = customers(30)
    put_customer_attributes(con, people)
    build_snapshot(con, [destination_config()], DAY1)
    with answering(status, body, content_type) as (url, hits):
        with BrazeClient(DEFAULT_API_KEY, url, objects_per_request=10) as client:
            with pytest.raises(SyncFailed) as failed:
                sync(con, client, tmp_path)
    message = str(failed.value)
    assert "\n" not in message and "delivered nothing" in message and expected in message
    assert DEFAULT_API_KEY not in message and len(hits) == 3
    assert con.execute(f"SELECT count(*) FROM {CONFIRMED}").fetchone()[0] == 0
    assert con.execute(f"SELECT status, message FROM {RUNS}").fetchall() == [("failed", message)]

    sandbox = SandboxServer(tmp_path / "sandbox", rate_limit_requests=None).start()
    try:
        sandbox.seed_users(p[0] for p in people)
        with BrazeClient(DEFAULT_API_KEY, sandbox.url) as client:
            report = sync(con, client, tmp_path)
        assert report.objects_delivered == 30 and sandbox.stats()["profiles"] == 30
    finally:
        sandbox.stop()
