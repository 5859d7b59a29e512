"""Braze REST client (plain Python, no Dagster)."""

from braze_assets.braze.client import (
    DELIVERED,
    NOT_DELIVERED,
    REJECTED,
    BatchResult,
    BrazeClient,
    BrazeError,
    RowOutcome,
    TrackResult,
)
from braze_assets.braze.instances import INSTANCES, resolve_endpoint

__all__ = [
    "DELIVERED",
    "NOT_DELIVERED",
    "REJECTED",
    "INSTANCES",
    "BatchResult",
    "BrazeClient",
    "BrazeError",
    "RowOutcome",
    "TrackResult",
    "resolve_endpoint",
]
