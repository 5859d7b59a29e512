"""A stand-in for BrazeClient in unit tests: records objects, answers per object like Braze."""

from __future__ import annotations

import orjson

from braze_assets.braze.client import (
    DELIVERED,
    NOT_DELIVERED,
    REJECTED,
    BatchResult,
    RowOutcome,
    TrackResult,
)


class FakeClient:
    def __init__(self, batch_size: int = 2, reject=(), fail=()):
        self.batch_size = batch_size
        self.reject = set(reject)
        self.fail = set(fail)
        self.sent: list[dict] = []
        self.calls = 0

    def track_attributes(self, objects, *, on_batch=None) -> TrackResult:
        self.calls += 1
        result = TrackResult(outcomes=[], batches=[])
        # Like the real client, take dicts or JSON rows (bytes); record what Braze would parse.
        objects = [orjson.loads(o) if isinstance(o, (bytes, bytearray)) else o for o in objects]
        for batch_no, start in enumerate(range(0, len(objects), self.batch_size), start=1):
            indices = list(range(start, min(start + self.batch_size, len(objects))))
            outcomes = []
            for i in indices:
                key = objects[i].get("external_id")
                if key in self.fail:
                    outcomes.append(RowOutcome(i, NOT_DELIVERED, "HTTP 503: unavailable"))
                elif key in self.reject:
                    outcomes.append(RowOutcome(i, REJECTED, "invalid value"))
                else:
                    outcomes.append(RowOutcome(i, DELIVERED, None))
                self.sent.append(objects[i])
            batch = BatchResult(batch_no, indices, 201, 1, 1.0, outcomes)
            result.batches.append(batch)
            result.outcomes.extend(outcomes)
            if on_batch:
                on_batch(batch)
        return result
