"""Braze's REST behaviour for the sandbox, independent of the HTTP plumbing.

``SandboxApi.handle`` takes one request (method, path, headers, body) and returns a ``Reply``.
Order of checks follows Braze: unknown route 404, key 401, permission 403, rate limit 429,
size 413, syntax and batch limit 400, then per-object validation inside a 201.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import orjson

from braze_assets.sandbox import lifecycle
from braze_assets.sandbox.faults import DROP, FaultConfig, FaultState
from braze_assets.sandbox.workspace import Workspace

TRACK, EXPORT, DELETE = "/users/track", "/users/export/ids", "/users/delete"
MERGE, ALIAS_NEW, IDENTIFY = "/users/merge", "/users/alias/new", "/users/identify"
SUBSCRIPTION_SET = "/v2/subscription/status/set"
PERMISSIONS = {
    TRACK: "users.track",
    EXPORT: "users.export.ids",
    DELETE: "users.delete",
    MERGE: "users.merge",
    ALIAS_NEW: "users.alias.new",
    IDENTIFY: "users.identify",
    SUBSCRIPTION_SET: "subscription.status.set",
}
DEFAULT_API_KEY = "sandbox-key"
SANDBOX_API_KEY = DEFAULT_API_KEY  # the name the CLI uses
ALL_PERMISSIONS = frozenset(PERMISSIONS.values())
MAX_BODY_BYTES = 4 * 1024 * 1024
IDS_PER_REQUEST = 50
REQUEST_LOG_SIZE = 500_000


@dataclass
class Reply:
    status: int
    body: dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


def _user_key(obj: dict) -> str:
    if obj.get("external_id") is not None:
        return str(obj["external_id"])
    alias = obj.get("user_alias")
    if isinstance(alias, dict):
        return f"alias:{alias.get('alias_label')}:{alias.get('alias_name')}"
    for key in ("braze_id", "email", "phone"):
        if obj.get(key) is not None:
            return f"{key}:{obj[key]}"
    return "unknown"


class FixedWindow:
    """Braze-style request counter: windows aligned to the epoch, reset on the clock."""

    def __init__(self, limit: int | None, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self._window = -1
        self._used = 0

    def admit(self, now: float) -> tuple[bool, dict[str, str]]:
        if self.limit is None:
            return True, {}
        window = int(now // self.period_s)
        if window != self._window:
            self._window, self._used = window, 0
        allowed = self._used < self.limit
        if allowed:
            self._used += 1
        reset = math.ceil((window + 1) * self.period_s)
        return allowed, {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self._used)),
            "X-RateLimit-Reset": str(reset),
        }


class SandboxApi:
    def __init__(
        self,
        workspace: Workspace,
        *,
        api_keys: dict[str, set[str]] | None = None,
        rate_limit_requests: int | None = 3000,
        rate_limit_period_s: float = 3.0,
        export_rate_limit_requests: int | None = 250,
        export_rate_limit_period_s: float = 60.0,
        delete_rate_limit_requests: int | None = 20_000,
        delete_rate_limit_period_s: float = 60.0,
        objects_per_request: int = 75,
        per_array_limit: bool = False,
        faults: FaultConfig | None = None,
    ) -> None:
        self.workspace = workspace
        self.api_keys = {
            k: frozenset(v) for k, v in (api_keys or {DEFAULT_API_KEY: ALL_PERMISSIONS}).items()
        }
        self.objects_per_request = objects_per_request
        self.per_array_limit = per_array_limit
        self.faults = FaultState(faults)
        self.windows = {
            TRACK: FixedWindow(rate_limit_requests, rate_limit_period_s),
            EXPORT: FixedWindow(export_rate_limit_requests, export_rate_limit_period_s),
            DELETE: FixedWindow(delete_rate_limit_requests, delete_rate_limit_period_s),
        }
        # Braze: delete, identify, alias/new and merge share one 20,000 requests/min limit.
        for route in (MERGE, ALIAS_NEW, IDENTIFY):
            self.windows[route] = self.windows[DELETE]
        # Braze documents 5,000 requests per minute for the subscription status endpoints.
        self.windows[SUBSCRIPTION_SET] = FixedWindow(5_000, 60.0)
        # Merge updates accepted while faults.defer_merges is on, applied later (Braze's async).
        self.pending_merges: list[dict] = []
        self._lock = threading.Lock()
        self._seq = 0
        # (seq, time, method, path, status, objects, rejected): never the key or the body.
        self.log: deque[tuple] = deque(maxlen=REQUEST_LOG_SIZE)
        self.status_counts: Counter = Counter()
        self.objects_processed = 0
        self.objects_rejected = 0
        # Attribute objects accepted per user (external_id, or the alias/email/phone/braze_id the
        # object names): how often one user's values arrived, which the kill tests compare
        # against a clean run to count values resent after a crash.
        self.received: Counter = Counter()
        self.connections_accepted = 0  # counted by the HTTP server: shows keep-alive reuse

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _record(
        self,
        now: float,
        method: str,
        path: str,
        status: int | str,
        objects: int = 0,
        rejected: int = 0,
    ) -> None:
        with self._lock:
            self._seq += 1
            self.log.append((self._seq, now, method, path, status, objects, rejected))
            self.status_counts[str(status)] += 1
            self.objects_processed += objects - rejected
            self.objects_rejected += rejected

    def request_log(self, since: int = 0) -> list[dict]:
        with self._lock:
            entries = [e for e in self.log if e[0] > since]
        keys = ("seq", "time", "method", "path", "status", "objects", "rejected")
        return [dict(zip(keys, e)) for e in entries]

    def received_by_user(self) -> dict[str, int]:
        with self._lock:
            return dict(self.received)

    def stats(self) -> dict:
        with self._lock:
            requests = sum(self.status_counts.values())
            statuses = dict(self.status_counts)
            processed, rejected = self.objects_processed, self.objects_rejected
        points = self.workspace.data_point_summary()["total"]
        return {
            "requests": requests,
            "statuses": statuses,
            "objects_processed": processed,
            "objects_rejected": rejected,
            "profiles": len(self.workspace.profiles),
            "data_points": points,
            "faults_active": self.faults.active,
            "connections_accepted": self.connections_accepted,
        }

    def reset(self) -> None:
        self.workspace.reset()
        with self._lock:
            self.log.clear()
            self.status_counts.clear()
            self.objects_processed = self.objects_rejected = 0
            self.received.clear()

    # ---- entry point ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers, body: bytes) -> Reply:
        now = time.time()
        route, _, query = path.partition("?")
        if route.startswith("/_sandbox/"):
            reply = self._sandbox(method, route, parse_qs(query), body)
            return reply
        reply = self._braze(method, route, headers, body, now)
        if reply.drop:
            self._record(now, method, route, "dropped")
        return reply

    def _braze(self, method: str, route: str, headers, body: bytes, now: float) -> Reply:
        if route not in PERMISSIONS or method != "POST":
            self._record(now, method, route, 404)
            return Reply(404, {"message": "Not Found"})
        auth = headers.get("Authorization") or ""
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        permissions = self.api_keys.get(key)
        if permissions is None:
            self._record(now, method, route, 401)
            return Reply(401, {"message": "Invalid API key"})
        if PERMISSIONS[route] not in permissions:
            self._record(now, method, route, 403)
            return Reply(
                403,
                {"message": f"Insufficient permissions: this API key lacks {PERMISSIONS[route]}"},
            )
        delay, fault, storm_end = self.faults.request_fault(route)
        if fault == DROP:
            return Reply(0, delay_s=delay, drop=True)
        with self._lock:
            allowed, limit_headers = self.windows[route].admit(now)
        if not allowed:
            self._record(now, method, route, 429)
            return Reply(429, {"message": "Rate limit exceeded"}, limit_headers, delay)
        if fault is not None:
            return self._injected(now, route, fault, storm_end, limit_headers, delay)
        if len(body) > MAX_BODY_BYTES:
            self._record(now, method, route, 413)
            return Reply(
                413,
                {"message": "Payload Too Large: requests are limited to 4 MB"},
                limit_headers,
                delay,
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._record(now, method, route, 400)
            return Reply(
                400, {"message": f"Bad syntax: invalid JSON ({exc})"}, limit_headers, delay
            )
        if not isinstance(payload, dict):
            self._record(now, method, route, 400)
            return Reply(
                400, {"message": "Bad syntax: the body must be a JSON object"}, limit_headers, delay
            )
        handler = {
            TRACK: self._track,
            EXPORT: self._export,
            DELETE: self._delete,
            MERGE: self._merge,
            ALIAS_NEW: self._alias_new,
            IDENTIFY: self._identify,
            SUBSCRIPTION_SET: self._subscription_set,
        }[route]
        reply = handler(payload, now)
        reply.headers.update(limit_headers)
        reply.delay_s = delay
        return reply

    def _injected(self, now, route, status, storm_end, limit_headers, delay) -> Reply:
        headers = dict(limit_headers)
        if status == 429 and storm_end is not None:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(math.ceil(storm_end))
        retry_after = self.faults.config.retry_after_s
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        self._record(now, "POST", route, status)
        message = (
            "Rate limit exceeded" if status == 429 else "Sandbox fault injection: server error"
        )
        return Reply(int(status), {"message": message}, headers, delay)

    # ---- Braze endpoints -----------------------------------------------------------------------
    def _too_many(self, payload: dict) -> bool:
        sizes = [len(payload.get(name) or ()) for name in ("attributes", "events", "purchases")]
        if self.per_array_limit:
            return max(sizes) > self.objects_per_request
        return sum(sizes) > self.objects_per_request

    def _track(self, payload: dict, now: float) -> Reply:
        arrays = {name: payload.get(name) for name in ("attributes", "events", "purchases")}
        for name, value in arrays.items():
            if value is not None and not isinstance(value, list):
                self._record(now, "POST", TRACK, 400)
                return Reply(400, {"message": f"Bad syntax: '{name}' must be an array"})
        if self._too_many(payload):
            self._record(now, "POST", TRACK, 400)
            return Reply(400, {"message": "Max Input Length Exceeded"})
        attributes = arrays["attributes"] or []
        processed, errors = self.workspace.track_attributes(attributes, self.faults.rejects)
        events = arrays["events"] or []
        purchases = arrays["purchases"] or []
        with self.workspace.lock:
            events_done, event_errors = lifecycle.track_events(
                self.workspace, "events", events, self.faults.rejects
            )
            purchases_done, purchase_errors = lifecycle.track_events(
                self.workspace, "purchases", purchases, self.faults.rejects
            )
        failed = {e["index"] for e in errors}
        errors = errors + event_errors + purchase_errors
        self._record(
            now, "POST", TRACK, 201, len(attributes) + len(events) + len(purchases), len(errors)
        )
        with self._lock:
            self.received.update(
                _user_key(obj) for i, obj in enumerate(attributes) if i not in failed
            )
        body: dict = {
            "message": "success",
            "attributes_processed": processed,
            "events_processed": events_done,
            "purchases_processed": purchases_done,
        }
        if errors:
            body["errors"] = errors
        return Reply(201, body)

    def _ids(self, payload: dict, route: str, now: float) -> list[str] | Reply:
        ids = payload.get("external_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            self._record(now, "POST", route, 400)
            return Reply(400, {"message": "Bad syntax: external_ids must be an array of strings"})
        if len(ids) > IDS_PER_REQUEST:
            self._record(now, "POST", route, 400)
            return Reply(400, {"message": "Max Input Length Exceeded"})
        return ids

    def _export(self, payload: dict, now: float) -> Reply:
        ids = self._ids(payload, EXPORT, now)
        if isinstance(ids, Reply):
            return ids
        aliases = payload.get("user_aliases") or []
        if not isinstance(aliases, list) or not all(lifecycle._alias(a) for a in aliases):
            return self._bad(
                now, EXPORT, "user_aliases must be an array of {alias_name, alias_label}"
            )
        if len(ids) + len(aliases) > IDS_PER_REQUEST:
            return self._bad(now, EXPORT, "Max Input Length Exceeded")
        fields = payload.get("fields_to_export")
        users, invalid = self.workspace.export(
            [("external_id", i) for i in ids]
            + [("user_alias", lifecycle._alias(a)) for a in aliases],
            fields,
        )
        self._record(now, "POST", EXPORT, 201, len(ids) + len(aliases))
        body = {"message": "success", "users": users}
        if invalid:
            body["invalid_user_ids"] = invalid
        return Reply(201, body)

    def _delete(self, payload: dict, now: float) -> Reply:
        ids = self._ids(payload, DELETE, now)
        if isinstance(ids, Reply):
            return ids
        aliases = payload.get("user_aliases") or []
        braze_ids = payload.get("braze_ids") or []
        if not isinstance(aliases, list) or not all(lifecycle._alias(a) for a in aliases):
            return self._bad(
                now, DELETE, "user_aliases must be an array of {alias_name, alias_label}"
            )
        if not isinstance(braze_ids, list) or not all(isinstance(b, str) for b in braze_ids):
            return self._bad(now, DELETE, "braze_ids must be an array of strings")
        if len(ids) + len(aliases) + len(braze_ids) > IDS_PER_REQUEST:
            return self._bad(now, DELETE, "Max Input Length Exceeded")
        deleted = self.workspace.delete(
            [("external_id", i) for i in ids]
            + [("user_alias", lifecycle._alias(a)) for a in aliases]
            + [("braze_id", b) for b in braze_ids]
        )
        self._record(now, "POST", DELETE, 201, len(ids) + len(aliases) + len(braze_ids))
        return Reply(201, {"message": "success", "deleted": deleted})

    def _bad(self, now: float, route: str, message: str) -> Reply:
        self._record(now, "POST", route, 400)
        return Reply(400, {"message": message})

    def _listed(self, payload: dict, key: str, check, route: str, now: float) -> list | Reply:
        items = payload.get(key)
        error = check(items)
        if error is not None:
            return self._bad(now, route, f"Bad syntax: {error}")
        if len(items) > IDS_PER_REQUEST:
            return self._bad(now, route, "Max Input Length Exceeded")
        return items

    def _merge(self, payload: dict, now: float) -> Reply:
        updates = self._listed(payload, "merge_updates", lifecycle.check_merge_updates, MERGE, now)
        if isinstance(updates, Reply):
            return updates
        with self.workspace.lock:
            if self.faults.config.defer_merges:
                self.pending_merges.extend(updates)
            else:
                self.apply_merges()
                lifecycle.merge(self.workspace, updates)
        self._record(now, "POST", MERGE, 202, len(updates))
        # Braze merges asynchronously and answers 202 without per-update results.
        return Reply(202, {"message": "success"})

    def apply_merges(self) -> int:
        """Apply the merge updates queued while merges were deferred; return how many merged."""
        with self.workspace.lock:
            queued, self.pending_merges = self.pending_merges, []
            return lifecycle.merge(self.workspace, queued) if queued else 0

    def _subscription_set(self, payload: dict, now: float) -> Reply:
        groups = payload.get("subscription_groups")
        error = lifecycle.check_subscription_set(groups)
        if error is not None:
            return self._bad(now, SUBSCRIPTION_SET, f"Bad syntax: {error}")
        with self.workspace.lock:
            lifecycle.set_subscription_states(self.workspace, groups)
        self._record(now, "POST", SUBSCRIPTION_SET, 201, len(groups))
        return Reply(201, {"message": "success"})

    def _alias_new(self, payload: dict, now: float) -> Reply:
        check, apply = lifecycle.check_new_aliases, lifecycle.new_aliases
        return self._aliases(payload, now, "user_aliases", check, apply, ALIAS_NEW)

    def _identify(self, payload: dict, now: float) -> Reply:
        check, apply = lifecycle.check_identify, lifecycle.identify
        return self._aliases(payload, now, "aliases_to_identify", check, apply, IDENTIFY)

    def _aliases(self, payload: dict, now: float, key: str, check, apply, route: str) -> Reply:
        """/users/alias/new and /users/identify: `apply` the checked `key` items, answer how many
        aliases it processed."""
        items = self._listed(payload, key, check, route, now)
        if isinstance(items, Reply):
            return items
        with self.workspace.lock:
            processed = apply(self.workspace, items)
        self._record(now, "POST", route, 201, len(items))
        return Reply(201, {"message": "success", "aliases_processed": processed})

    # ---- introspection -------------------------------------------------------------------------
    def _sandbox(self, method: str, route: str, query: dict, body: bytes) -> Reply:
        name = route[len("/_sandbox/") :].rstrip("/")
        try:
            if method == "GET" and name == "profiles":
                return Reply(200, {"profiles": self.workspace.all_profiles()})
            if method == "GET" and name.startswith("profiles/"):
                profile = self.workspace.profile(name[len("profiles/") :])
                return (
                    Reply(200, profile)
                    if profile is not None
                    else Reply(404, {"message": "no such profile"})
                )
            if method == "GET" and name == "requests":
                since = int(query.get("since", ["0"])[0])
                return Reply(200, {"requests": self.request_log(since)})
            if method == "GET" and name == "events":
                with self.workspace.lock:
                    return Reply(200, {"events": list(self.workspace.event_log)})
            if method == "GET" and name == "received":
                return Reply(200, {"received": self.received_by_user()})
            if method == "GET" and name == "data_points":
                return Reply(200, self.workspace.data_point_summary())
            if method == "GET" and name == "stats":
                return Reply(200, self.stats())
            if method == "GET" and name == "faults":
                return Reply(200, self.faults.describe())
            if method == "POST" and name == "faults":
                self.faults.set(FaultConfig.from_dict(orjson.loads(body or b"{}")))
                if not self.faults.config.defer_merges:
                    self.apply_merges()
                return Reply(200, self.faults.describe())
            if method == "POST" and name == "apply_merges":
                return Reply(200, {"merged": self.apply_merges()})
            if method == "POST" and name == "reset":
                self.reset()
                return Reply(200, {"message": "reset"})
            if method == "POST" and name == "flush":
                self.workspace.flush()
                return Reply(200, {"message": "flushed"})
            if method == "POST" and name == "seed":
                ids = orjson.loads(body or b"{}").get("external_ids") or []
                return Reply(200, {"created": self.workspace.seed(ids)})
        except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
            return Reply(400, {"message": str(exc)})
        return Reply(404, {"message": f"unknown sandbox route {method} {route}"})
