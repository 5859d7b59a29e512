"""Change-only sync to Braze: snapshots, diff, confirmed state, crash-safe runner (no Dagster).

`braze_assets.sync.snapshots.build_snapshot` is not re-exported here: it needs the attributes
package, which the config models import this package from.
"""

from braze_assets.sync.config import ResolvedSyncSettings, SyncConfig
from braze_assets.sync.diff import DiffCounts, compute_changes
from braze_assets.sync.runner import (
    SyncBlocked,
    SyncFailed,
    SyncReport,
    recover,
    sync_destination,
)

__all__ = [
    "DiffCounts",
    "ResolvedSyncSettings",
    "SyncBlocked",
    "SyncFailed",
    "SyncConfig",
    "SyncReport",
    "compute_changes",
    "recover",
    "sync_destination",
]
