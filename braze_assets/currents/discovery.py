"""Find new Currents files without re-listing the whole bucket, and say which days they change.

A "last listed key" cursor is not enough for Braze's layout: keys sort by event type first, a late
file sorts before every newer hour of its type, and file names end in unpadded Kafka offsets
(`+0+9000` sorts after `+0+10000`). So each tick lists, per event-type folder, only the hour folders
inside a lookback window (S3 `StartAfter` skips everything older), and the cursor keeps one digest of
(key, etag) per hour folder. A folder whose digest changed holds a new or re-written file; its day
is reported with a run key derived from the content of that day's folders, so the same content never
yields two runs, and a late file in an older day yields a new run for that day.

A file arriving later than the window is not seen by the tick; materialising (backfilling) its
day loads it, because a day's load lists the whole day (`day_objects`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from braze_assets.currents.keys import CurrentsKey, parse_key
from braze_assets.currents.s3 import CurrentsBucket, S3Object

DEFAULT_LOOKBACK_HOURS = 72
_MAX_FOLDER_DEPTH = 4
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class PartitionChange:
    partition_key: str  # the event date, YYYY-MM-DD
    run_key: str
    objects: tuple[
        S3Object, ...
    ]  # the changed hour folders' objects (already loaded ones included)


@dataclass(frozen=True)
class Discovery:
    changes: list[PartitionChange]
    cursor: str
    listed: int


def type_folders(bucket: CurrentsBucket) -> list[str]:
    """Every `event_type=` folder under the bucket prefix, however deep Braze nests it."""
    root = (
        bucket.prefix if not bucket.prefix or bucket.prefix.endswith("/") else bucket.prefix + "/"
    )
    found: list[str] = []
    level = [root]
    for _ in range(_MAX_FOLDER_DEPTH):
        deeper = []
        for folder in level:
            for child in bucket.list_folders(folder):
                name = child.rstrip("/").rsplit("/", 1)[-1]
                if name.startswith("event_type="):
                    found.append(child)
                elif not name.startswith("date="):
                    deeper.append(child)
        if not deeper:
            break
        level = deeper
    return sorted(found)


def day_objects(bucket: CurrentsBucket, day: date) -> Iterator[S3Object]:
    """Every Currents object of one event date, all types and hours (lists only that day)."""
    for folder in type_folders(bucket):
        for obj in bucket.iter_objects(prefix=f"{folder}date={day.isoformat()}"):
            parsed = parse_key(obj.key)
            if parsed is not None and parsed.date == day:
                yield obj


def discover(
    bucket: CurrentsBucket,
    cursor: str | None,
    *,
    now: datetime,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> Discovery:
    known = _read_cursor(cursor)
    window_start = (now.astimezone(UTC) - timedelta(hours=lookback_hours)).replace(
        minute=0, second=0, microsecond=0
    )
    folders: dict[str, list[tuple[CurrentsKey, S3Object]]] = defaultdict(list)
    listed = 0
    for folder in type_folders(bucket):
        start_after = f"{folder}date={window_start:%Y-%m-%d-%H}"
        for obj in bucket.iter_objects(prefix=folder, start_after=start_after):
            listed += 1
            parsed = parse_key(obj.key)
            if parsed is not None and parsed.hour >= window_start:
                folders[parsed.hour_prefix].append((parsed, obj))

    digests = {_short_hash(prefix): _digest(items) for prefix, items in folders.items()}
    by_day: dict[date, list[str]] = defaultdict(list)
    for prefix, items in folders.items():
        by_day[items[0][0].date].append(prefix)

    changes = []
    for day in sorted(by_day):
        prefixes = sorted(by_day[day])
        changed = [p for p in prefixes if known.get(_short_hash(p)) != digests[_short_hash(p)]]
        if not changed:
            continue
        content = _short_hash(
            "\n".join(f"{_short_hash(p)}:{digests[_short_hash(p)]}" for p in prefixes)
        )
        objects = tuple(
            obj for p in changed for _, obj in sorted(folders[p], key=lambda item: item[1].key)
        )
        changes.append(
            PartitionChange(day.isoformat(), f"currents:{day.isoformat()}:{content}", objects)
        )
    new_cursor = json.dumps(
        {"v": _CURSOR_VERSION, "hours": dict(sorted(digests.items()))}, separators=(",", ":")
    )
    return Discovery(changes=changes, cursor=new_cursor, listed=listed)


def _read_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {}  # an unreadable cursor only costs a re-check of the window (run keys dedupe)
    if not isinstance(state, dict) or state.get("v") != _CURSOR_VERSION:
        return {}
    return dict(state.get("hours", {}))


def _digest(items: list[tuple[CurrentsKey, S3Object]]) -> str:
    return _short_hash("\n".join(sorted(f"{obj.key} {obj.etag}" for _, obj in items)))


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
