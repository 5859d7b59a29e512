"""The sandbox's Braze workspace: profiles, identifier indexes, data points, persisted atomically.

Profiles are kept in memory and written to ``<state_dir>/braze_sandbox_state.json`` (write to a
temp file, fsync, rename) on flush, so a demo workspace survives restarts. Callers serialise
access with ``lock``.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import Counter
from pathlib import Path

import orjson

from braze_assets.sandbox.validation import (
    CONTROL_KEYS,
    ID_KEYS,
    STANDARD_FIELDS,
    billable_points,
    check_attribute_object,
)

STATE_FILE = "braze_sandbox_state.json"
_SKIP = frozenset(ID_KEYS) | CONTROL_KEYS
STATE_VERSION = 1


def _encoded_size(value) -> int:
    return len(orjson.dumps(value))


def _exported(profile: dict) -> dict:
    """A profile as /users/export/ids shows it: events and purchases as Braze's lists of
    {name, first, last, count}, subscription groups as [{id, status}] (the sandbox keeps maps)."""
    for key in ("custom_events", "purchases"):
        if key in profile:
            profile[key] = [{"name": name, **entry} for name, entry in profile[key].items()]
    if "subscription_groups" in profile:
        profile["subscription_groups"] = [
            {"id": group, "status": state.capitalize()}
            for group, state in profile["subscription_groups"].items()
        ]
    return profile


class Workspace:
    def __init__(self, state_dir: Path | None, *, array_limit: int = 25) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.array_limit = array_limit
        self.lock = threading.RLock()
        self.dirty = False
        self._clear()
        if self.state_dir is not None:
            self._load()

    def _clear(self) -> None:
        self.profiles: dict[str, dict] = {}  # braze_id -> profile
        self.by_external: dict[str, str] = {}
        self.by_alias: dict[tuple[str, str], str] = {}
        self.by_email: dict[str, str] = {}
        self.by_phone: dict[str, str] = {}
        self.next_id = 1
        self.data_points = Counter()
        self.deleted = 0
        # Events and purchases as received, newest last (memory only, like the request log).
        self.event_log: list[dict] = []
        self._now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    # ---- persistence ---------------------------------------------------------------------------
    @property
    def state_path(self) -> Path | None:
        return self.state_dir / STATE_FILE if self.state_dir is not None else None

    def _load(self) -> None:
        path = self.state_path
        if path is None or not path.exists():
            return
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ValueError(
                f"Sandbox state file {path} is not valid JSON ({exc}); move it away to start empty"
            ) from exc
        if data.get("version") != STATE_VERSION:
            raise ValueError(
                f"Sandbox state file {path} has version {data.get('version')}, expected {STATE_VERSION}"
            )
        self.next_id = int(data["next_id"])
        self.data_points = Counter(data["data_points"])
        self.deleted = int(data.get("deleted", 0))
        for profile in data["profiles"]:
            self._index(profile)

    def flush(self) -> None:
        """Write the workspace atomically if it changed since the last flush."""
        path = self.state_path
        if path is None:
            return
        with self.lock:
            if not self.dirty and path.exists():
                return
            payload = orjson.dumps(
                {
                    "version": STATE_VERSION,
                    "next_id": self.next_id,
                    "data_points": dict(self.data_points),
                    "deleted": self.deleted,
                    "profiles": list(self.profiles.values()),
                }
            )
            self.dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.dirty = True

    # ---- profiles ------------------------------------------------------------------------------
    def _index(self, profile: dict) -> None:
        braze_id = profile["braze_id"]
        self.profiles[braze_id] = profile
        if profile.get("external_id") is not None:
            self.by_external[profile["external_id"]] = braze_id
        for alias in profile.get("user_aliases", ()):
            self.by_alias[(alias["alias_name"], alias["alias_label"])] = braze_id
        if profile.get("email"):
            self.by_email.setdefault(profile["email"], braze_id)
        if profile.get("phone"):
            self.by_phone.setdefault(profile["phone"], braze_id)

    def _new_profile(self, kind: str, value) -> dict:
        braze_id = f"{self.next_id:024x}"
        self.next_id += 1
        profile: dict = {"braze_id": braze_id, "created_at": self._now}
        if kind == "external_id":
            profile["external_id"] = value
        elif kind == "user_alias":
            profile["user_aliases"] = [{"alias_name": value[0], "alias_label": value[1]}]
        else:
            profile[kind] = value
        profile["custom_attributes"] = {}
        self._index(profile)
        return profile

    def _find(self, kind: str, value) -> dict | None:
        if kind == "external_id":
            braze_id = self.by_external.get(value)
        elif kind == "braze_id":
            braze_id = value
        elif kind == "user_alias":
            braze_id = self.by_alias.get(value)
        elif kind == "email":
            braze_id = self.by_email.get(value)
        else:
            braze_id = self.by_phone.get(value)
        return self.profiles.get(braze_id) if braze_id is not None else None

    def seed(self, external_ids) -> int:
        with self.lock:
            created = 0
            for external_id in external_ids:
                self._now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                if external_id not in self.by_external:
                    self._new_profile("external_id", str(external_id))
                    created += 1
            self.dirty = True
            return created

    def track_attributes(self, objects: list, reject) -> tuple[int, list[dict]]:
        """Apply attribute objects; return (processed count, per-object errors in Braze's shape)."""
        errors: list[dict] = []
        processed = 0
        with self.lock:
            self._now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            for position, obj in enumerate(objects):
                error, kind, value = check_attribute_object(obj, self.array_limit, _encoded_size)
                if error is None:
                    error = self._apply(obj, kind, value, reject)
                if error is None:
                    processed += 1
                else:
                    errors.append({"type": error, "input_array": "attributes", "index": position})
            if processed:
                self.dirty = True
        return processed, errors

    def target(self, obj: dict, kind: str, value) -> tuple[dict | None, str | None]:
        """(profile, None) the object applies to -- created unless _update_existing_only (the
        default for user_alias) -- or (None, Braze's error text)."""
        profile = self._find(kind, value)
        if profile is not None:
            return profile, None
        if kind == "braze_id":
            return None, f"braze_id '{value}' does not exist"
        if obj.get("_update_existing_only", kind == "user_alias"):
            shown = value if kind != "user_alias" else value[0]
            return None, f"No existing user with {kind} '{shown}' (_update_existing_only)"
        return self._new_profile(kind, value), None

    def remove(self, profile: dict) -> None:
        """Take a profile and its identifier indexes out (a delete, or the merged side of a merge)."""
        braze_id = profile["braze_id"]
        self.profiles.pop(braze_id, None)
        if self.by_external.get(profile.get("external_id")) == braze_id:
            del self.by_external[profile["external_id"]]
        for alias in profile.get("user_aliases", ()):
            key = (alias["alias_name"], alias["alias_label"])
            if self.by_alias.get(key) == braze_id:
                del self.by_alias[key]
        for field_name, index in (("email", self.by_email), ("phone", self.by_phone)):
            if index.get(profile.get(field_name)) == braze_id:
                del index[profile[field_name]]

    def _apply(self, obj: dict, kind: str, value, reject) -> str | None:
        if reject(obj.get("external_id")):
            return "Sandbox fault injection: object rejected"
        profile, error = self.target(obj, kind, value)
        if error is not None:
            return error
        merge = obj.get("_merge_objects") is True
        custom = profile["custom_attributes"]
        for key, new in obj.items():
            if key in _SKIP or key == kind:
                continue
            if key == "subscription_groups":
                groups = profile.setdefault("subscription_groups", {})
                for item in new or ():
                    groups[item["subscription_group_id"]] = item["subscription_state"]
                continue
            if key in STANDARD_FIELDS:
                if new is None:
                    profile.pop(key, None)
                    continue
                profile[key] = new
                if key == "email":
                    self.by_email.setdefault(new, profile["braze_id"])
                elif key == "phone":
                    self.by_phone.setdefault(new, profile["braze_id"])
            elif new is None:
                custom.pop(key, None)
            elif type(new) is dict:
                custom[key] = self._custom_value(custom.get(key), new, merge)
            else:
                custom[key] = new
        points = self.data_points
        for key, cost in billable_points(obj, kind).items():
            points[key] = points.get(key, 0) + cost
        return None

    def _custom_value(self, old, new, merge: bool):
        if not isinstance(new, dict):
            return new
        ops = new.keys()
        if ops and ops <= {"add", "remove"}:
            current = list(old) if isinstance(old, list) else []
            for item in new.get("add", ()):
                if item not in current:
                    current.append(item)
            removed = set(new.get("remove", ()))
            current = [item for item in current if item not in removed]
            # Braze keeps the newest values when an array grows past its limit.
            return current[-self.array_limit :]
        if ops == {"inc"}:
            base = old if isinstance(old, (int, float)) and not isinstance(old, bool) else 0
            return base + new["inc"]
        if ops == {"$time"}:
            return new["$time"]
        if merge and isinstance(old, dict):
            return {**old, **new}
        return new

    def export(
        self, identifiers: list[tuple[str, object]], fields: list[str] | None
    ) -> tuple[list[dict], list[str]]:
        """Profiles by (external_id | user_alias, value); unknown external ids are listed as
        invalid (Braze lists no unknown aliases)."""
        users, invalid = [], []
        with self.lock:
            for kind, value in identifiers:
                profile = self._find(kind, value)
                if profile is None:
                    if kind == "external_id":
                        invalid.append(value)
                    continue
                user = _exported(orjson.loads(orjson.dumps(profile)))
                if fields is not None:
                    wanted = set(fields) | {"external_id", "user_aliases"}
                    user = {k: v for k, v in user.items() if k in wanted}
                users.append(user)
        return users, invalid

    def delete(self, identifiers: list[tuple[str, object]]) -> int:
        """Delete profiles by (kind, value); return how many existed."""
        with self.lock:
            deleted = 0
            for kind, value in identifiers:
                profile = self._find(kind, value)
                if profile is None:
                    continue
                self.remove(profile)
                deleted += 1
            self.deleted += deleted
            if deleted:
                self.dirty = True
            return deleted

    def profile(self, external_id: str) -> dict | None:
        with self.lock:
            profile = self._find("external_id", external_id)
            return orjson.loads(orjson.dumps(profile)) if profile is not None else None

    def all_profiles(self) -> list[dict]:
        with self.lock:
            return orjson.loads(orjson.dumps(list(self.profiles.values())))

    def data_point_summary(self) -> dict:
        with self.lock:
            return {"total": sum(self.data_points.values()), "by_attribute": dict(self.data_points)}
