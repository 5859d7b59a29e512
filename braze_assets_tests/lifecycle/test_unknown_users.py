"""A profile Braze rejected because it did not exist yet gets its attributes once it exists:
retried on the back-off schedule (default daily for 30 days), over HTTP against the sandbox."""

from __future__ import annotations

import pytest

from braze_assets.braze.client import BrazeClient
from braze_assets.sandbox import DEFAULT_API_KEY
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.runner import sync_destination
from braze_assets.sync.snapshots import build_snapshot
from braze_assets_tests.sync.conftest import DAY1, destination_config, put_customer_attributes

pytestmark = pytest.mark.integration


def sync(con, client, tmp_path):
    return sync_destination(
        con,
        client,
        destination="braze_us",
        identifier_type="external_id",
        clear_attributes=["loyalty_tier"],
        # The project's defaults: update existing profiles only, retry unknown users daily.
        settings=SyncConfig().for_destination("braze_us", update_existing_only=True),
        journal_root=tmp_path / "journal",
        snapshot_date=DAY1,
    )


def age_rejections(con, days: float) -> None:
    """Let time pass for the rejections (what a day between two runs does)."""
    con.execute(
        f"""UPDATE braze_sync_rejections SET rejected_at = rejected_at - to_seconds({days * 86400}),
               first_rejected_at = first_rejected_at - to_seconds({days * 86400})"""
    )


def test_user_created_after_a_rejection_receives_its_attributes_later(con, tmp_path, sandbox):
    sandbox.seed_users(["known"])
    put_customer_attributes(con, [("known", "gold", 10, 0.5), ("late", "silver", 20, 0.7)])
    build_snapshot(con, [destination_config()], DAY1)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=1) as client:
        first = sync(con, client, tmp_path)
        assert (first.objects_delivered, first.objects_rejected) == (1, 1)
        # The user signs up in the app; the next run the same day still waits (daily back-off).
        sandbox.seed_users(["late"])
        same_day = sync(con, client, tmp_path)
        assert same_day.diff.objects == 0 and same_day.diff.held_back == 3
        assert sandbox.profile("late")["custom_attributes"] == {}

        age_rejections(con, 1.01)
        next_day = sync(con, client, tmp_path)
        assert next_day.diff.retried_unknown == 3 and next_day.objects_delivered == 1
        assert next_day.metadata()["retried_unknown_users"] == 3
        assert sandbox.profile("late")["custom_attributes"] == {
            "loyalty_tier": "silver",
            "lifetime_value": 20,
            "churn_score": 0.7,
        }


def test_unknown_user_retries_stop_after_the_retry_window(con, tmp_path, sandbox):
    put_customer_attributes(con, [("never", "silver", 20, 0.7)])
    build_snapshot(con, [destination_config()], DAY1)
    with BrazeClient(DEFAULT_API_KEY, sandbox.url, concurrency=1) as client:
        assert sync(con, client, tmp_path).objects_rejected == 1
        age_rejections(con, 2)
        retried = sync(con, client, tmp_path)
        assert retried.diff.retried_unknown == 3 and retried.objects_rejected == 1
        first, last = con.execute(
            "SELECT min(first_rejected_at), max(rejected_at) FROM braze_sync_rejections"
        ).fetchone()
        assert first < last  # the first rejection's time survives the re-rejection
        age_rejections(con, 31)
        assert sync(con, client, tmp_path).diff.objects == 0
