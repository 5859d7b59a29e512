"""Faults the sandbox can inject, switchable from code and over HTTP (POST /_sandbox/faults)."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass, field

DROP = "drop"


@dataclass
class FaultConfig:
    share_429: float = 0.0  # share of requests answered 429
    share_5xx: float = 0.0  # share of requests answered with status_5xx
    status_5xx: int = 500
    latency_ms: float = 0.0  # added to every faulted route's response
    latency_jitter_ms: float = 0.0
    drop_share: float = 0.0  # share of requests whose connection is closed without an answer
    reject_share: float = 0.0  # share of attribute objects rejected with a per-object error
    reject_external_ids: list[str] = field(default_factory=list)  # always rejected per object
    storm_429_s: float = 0.0  # every request is answered 429 for this many seconds from now
    retry_after_s: float | None = None  # send Retry-After on injected 429/5xx
    next_statuses: list[int | str] = field(default_factory=list)  # scripted answers, then normal
    routes: list[str] = field(default_factory=lambda: ["/users/track"])
    # Braze merges asynchronously: with this on, /users/merge answers 202 and queues the updates
    # until POST /_sandbox/apply_merges (or until the fault is switched off).
    defer_merges: bool = False
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> FaultConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(names)}")
        config = cls(**data)
        for name in ("share_429", "share_5xx", "drop_share", "reject_share"):
            share = getattr(config, name)
            if not 0.0 <= float(share) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {share}")
        for status in config.next_statuses:
            if status != DROP and not (isinstance(status, int) and 100 <= status <= 599):
                raise ValueError(
                    f"next_statuses entries must be HTTP statuses or 'drop', got {status!r}"
                )
        return config

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class FaultState:
    """The active FaultConfig plus its clock-based and scripted parts, safe across threads."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._storm_until = time.time() + config.storm_429_s if config.storm_429_s > 0 else 0.0
            self._scripted = list(config.next_statuses)
            self._rng = random.Random(config.seed)
            self._reject_ids = frozenset(config.reject_external_ids)
            self.active = self._is_active(config)

    @staticmethod
    def _is_active(config: FaultConfig) -> bool:
        defaults = FaultConfig()
        return any(
            getattr(config, f.name) != getattr(defaults, f.name)
            for f in dataclasses.fields(config)
            if f.name not in ("routes", "seed", "status_5xx", "retry_after_s")
        )

    def describe(self) -> dict:
        with self._lock:
            data = self.config.to_dict()
            data["storm_remaining_s"] = max(0.0, self._storm_until - time.time())
            data["next_statuses"] = list(self._scripted)
            return data

    def request_fault(self, route: str) -> tuple[float, int | str | None, float | None]:
        """(delay seconds, status or 'drop' or None, storm end) for one request on ``route``."""
        with self._lock:
            config = self.config
            if route not in config.routes:
                return 0.0, None, None
            delay = 0.0
            if config.latency_ms or config.latency_jitter_ms:
                delay = (
                    config.latency_ms + self._rng.uniform(0, config.latency_jitter_ms)
                ) / 1000.0
            if self._scripted:
                return delay, self._scripted.pop(0), None
            now = time.time()
            if now < self._storm_until:
                return delay, 429, self._storm_until
            roll = self._rng.random()
            if roll < config.drop_share:
                return delay, DROP, None
            roll -= config.drop_share
            if roll < config.share_429:
                return delay, 429, None
            roll -= config.share_429
            if roll < config.share_5xx:
                return delay, config.status_5xx, None
            return delay, None, None

    def rejects(self, external_id) -> bool:
        """Whether to reject this object with an injected per-object error."""
        if external_id in self._reject_ids:
            return True
        share = self.config.reject_share
        if not share:
            return False
        with self._lock:
            return self._rng.random() < share
