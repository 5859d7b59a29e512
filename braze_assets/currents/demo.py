"""Demo Currents in the demo bucket: the last day of engagement of the demo's Braze users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from botocore.exceptions import ClientError

from braze_assets.currents.demo_writer import write_demo_currents

DEMO_HOURS = 24
# Braze flushes every 5 minutes; 30-minute files keep the demo's file count (and time) small.
DEMO_FLUSH_SECONDS = 1800


def publish_demo_currents(
    bucket: str,
    prefix: str,
    users: list[dict],
    *,
    now: datetime | None = None,
    s3_client=None,
    seed: int = 7,
) -> list[str]:
    """Write demo Currents for the `DEMO_HOURS` hours before `now`; returns the keys written.

    The S3 client defaults to boto3's, which honours AWS_ENDPOINT_URL and the other AWS variables.
    """
    s3 = s3_client or boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    # Whole past hours only, so no demo event lies in the future.
    end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return write_demo_currents(
        s3,
        bucket,
        prefix,
        [u for u in users if u.get("external_id")],
        start=end - timedelta(hours=DEMO_HOURS),
        hours=DEMO_HOURS,
        seed=seed,
        events_per_hour=min(2_000, max(100, len(users) // 10)),
        duplicate_share=0.03,
        codec="deflate",
        flush_seconds=DEMO_FLUSH_SECONDS,
    )
