"""Profile lifecycle in the sandbox workspace: events, purchases, merges, deletes, aliases.

Braze facts followed here (copied from the project's Braze reference, BRAZE.md, 2026):
- events `{identifier, "name", "time", "properties"}` and purchases `{identifier, "product_id",
  "currency", "price", "quantity", "time", "properties"}` ride in /users/track and share the
  75-objects-per-request limit with attributes;
- eCommerce recommended events (`ecommerce.order_placed`, `ecommerce.order_refunded`,
  `ecommerce.order_cancelled`, ...) are custom events validated against a documented schema:
  order id, total value, currency, source, products (product id, name, variant id, quantity,
  price);
- `/users/merge`: up to 50 `merge_updates`, each `identifier_to_merge` / `identifier_to_keep` by
  `external_id`, `user_alias`, `email` or `phone`. The kept profile takes the merged one's
  standard fields and custom attributes only where it has none itself; event and purchase counts
  are summed; the merged profile is gone afterwards. Braze runs merges asynchronously (202); the
  sandbox applies them before answering, so tests can look at the result at once.
- `/users/delete`, `/users/alias/new`, `/users/identify`: 50 items each.
Every function runs under ``workspace.lock``.
"""

from __future__ import annotations

import datetime as dt
import re

from braze_assets.sandbox.validation import MAX_STRING, check_group_state, identifier_of

ECOMMERCE_ORDER_EVENTS = frozenset(
    {"ecommerce.order_placed", "ecommerce.order_refunded", "ecommerce.order_cancelled"}
)
_ORDER_FIELDS = {"order_id": str, "total_value": (int, float), "currency": str, "source": str}
_PRODUCT_FIELDS = {
    "product_id": str,
    "product_name": str,
    "variant_id": str,
    "quantity": int,
    "price": (int, float),
}
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MERGE_KINDS = ("external_id", "user_alias", "email", "phone")
EVENT_LOG_SIZE = 200_000


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed_fields(obj: dict, fields: dict, missing: str, wrong: str) -> str | None:
    """The first required field of `obj` that is absent or of the wrong type, as a message."""
    for key, kind in fields.items():
        value = obj.get(key)
        if value is None:
            return missing.format(key=key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return wrong.format(key=key)
    return None


def check_order_properties(name: str, props) -> str | None:
    if not isinstance(props, dict):
        return f"{name}: properties must be an object"
    error = _typed_fields(
        props,
        _ORDER_FIELDS,
        f"{name}: missing required property '{{key}}'",
        f"{name}: property '{{key}}' has the wrong type",
    )
    if error:
        return error
    if not _CURRENCY.match(props["currency"]):
        return f"{name}: currency '{props['currency']}' must be a three-letter ISO 4217 code"
    products = props.get("products")
    if not isinstance(products, list) or not products:
        return f"{name}: 'products' must be a non-empty array"
    for position, product in enumerate(products):
        if not isinstance(product, dict):
            return f"{name}: products[{position}] must be an object"
        error = _typed_fields(
            product,
            _PRODUCT_FIELDS,
            f"{name}: products[{position}] is missing '{{key}}'",
            f"{name}: products[{position}].{{key}} has the wrong type",
        )
        if error:
            return error
    return None


def _check_event(obj: dict) -> str | None:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return "Event 'name' must be a non-empty string"
    if len(name) > MAX_STRING:
        return f"Event name is longer than {MAX_STRING} characters"
    if not isinstance(obj.get("time"), str) or not _ISO_TIME.match(obj["time"]):
        return "Event 'time' must be an ISO 8601 time"
    props = obj.get("properties")
    if props is not None and not isinstance(props, dict):
        return "Event 'properties' must be an object"
    if name in ECOMMERCE_ORDER_EVENTS:
        return check_order_properties(name, props)
    return None


def _check_purchase(obj: dict) -> str | None:
    if not isinstance(obj.get("product_id"), str) or not obj["product_id"]:
        return "Purchase 'product_id' must be a non-empty string"
    if not isinstance(obj.get("currency"), str) or not _CURRENCY.match(obj["currency"]):
        return "Purchase 'currency' must be a three-letter ISO 4217 code"
    if not _number(obj.get("price")):
        return "Purchase 'price' must be a number"
    quantity = obj.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        return "Purchase 'quantity' must be an integer from 1 to 100"
    if not isinstance(obj.get("time"), str) or not _ISO_TIME.match(obj["time"]):
        return "Purchase 'time' must be an ISO 8601 time"
    return None


# array -> (what its entries are called in messages, the check of an entry's own fields)
_TRACKED = {"events": ("Event", _check_event), "purchases": ("Purchase", _check_purchase)}


def _check_tracked(array: str, obj) -> tuple[str | None, str, object]:
    """An `events` or `purchases` entry's error, or None and its identifier (kind, value)."""
    what, check = _TRACKED[array]
    if not isinstance(obj, dict):
        return f"{what} entries must be JSON objects", "", None
    identifier = identifier_of(obj)
    if isinstance(identifier, str):
        return identifier, "", None
    error = check(obj)
    if error:
        return error, "", None
    return None, identifier[0], identifier[1]


def _instant(text: str) -> dt.datetime:
    """An ISO 8601 time as an instant (no zone: UTC, as Braze reads it)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _count(counts: dict, name: str, first: str, last: str, count: int) -> None:
    """Add `count` occurrences between `first` and `last` to a profile's event (or purchase)
    counts. First and last are the earliest and latest times, not the first and last to arrive:
    the sync sends a profile's events in parallel batches, in no fixed order (two identical demos
    showed the same events with first and last swapped)."""
    entry = counts.get(name)
    if entry is None:
        counts[name] = {"count": count, "first": first, "last": last}
        return
    entry["count"] += count
    if _instant(first) < _instant(entry["first"]):
        entry["first"] = first
    if _instant(last) > _instant(entry["last"]):
        entry["last"] = last


def track_events(workspace, array: str, objects: list, reject) -> tuple[int, list[dict]]:
    """Apply `events` or `purchases`; (processed, errors in Braze's per-object shape)."""
    processed, errors = 0, []
    for position, obj in enumerate(objects):
        error, kind, value = _check_tracked(array, obj)
        if error is None and reject(obj.get("external_id")):
            error = "Sandbox fault injection: object rejected"
        profile = None
        if error is None:
            profile, error = workspace.target(obj, kind, value)
        if error is not None:
            errors.append({"type": error, "input_array": array, "index": position})
            continue
        processed += 1
        if array == "events":
            counts = profile.setdefault("custom_events", {})
            _count(counts, obj["name"], obj["time"], obj["time"], 1)
            points_key = f"event:{obj['name']}"
        else:
            counts = profile.setdefault("purchases", {})
            _count(counts, obj["product_id"], obj["time"], obj["time"], 1)
            points_key = f"purchase:{obj['product_id']}"
        workspace.event_log.append(
            {
                "braze_id": profile["braze_id"],
                "external_id": profile.get("external_id"),
                "array": array,
                **{k: v for k, v in obj.items() if k not in ("_update_existing_only",)},
            }
        )
        del workspace.event_log[:-EVENT_LOG_SIZE]
        # One data point per event or purchase logged (the project's assumption, see costs).
        workspace.data_points[points_key] = workspace.data_points.get(points_key, 0) + 1
    if processed:
        workspace.dirty = True
    return processed, errors


def _merge_identifier(side) -> tuple[str, object] | str:
    if not isinstance(side, dict):
        return "each side of a merge update must be an object"
    present = [key for key in side if key in MERGE_KINDS]
    if len(present) != 1 or len(side) != 1:
        return "each side of a merge update names exactly one of external_id, user_alias, email or phone"
    found = identifier_of(side)
    return found if not isinstance(found, str) else found


def check_merge_updates(updates) -> str | None:
    if not isinstance(updates, list) or not updates:
        return "merge_updates must be a non-empty array"
    for position, update in enumerate(updates):
        if not isinstance(update, dict):
            return f"merge_updates[{position}] must be an object"
        for side in ("identifier_to_merge", "identifier_to_keep"):
            found = _merge_identifier(update.get(side))
            if isinstance(found, str):
                return f"merge_updates[{position}].{side}: {found}"
    return None


def merge(workspace, updates: list[dict]) -> int:
    """Apply merge updates; return how many merged (a missing side is skipped, like Braze)."""
    merged = 0
    for update in updates:
        gone = workspace._find(*_merge_identifier(update["identifier_to_merge"]))
        kept = workspace._find(*_merge_identifier(update["identifier_to_keep"]))
        if gone is None or kept is None or gone is kept:
            continue
        for key, value in gone.items():
            if key in ("braze_id", "external_id", "created_at", "custom_attributes"):
                continue
            if key in ("custom_events", "purchases"):
                target = kept.setdefault(key, {})
                for name, entry in value.items():
                    _count(target, name, entry["first"], entry["last"], entry["count"])
                continue
            if key == "user_aliases":
                kept.setdefault("user_aliases", []).extend(value)
                continue
            kept.setdefault(key, value)
        custom = kept["custom_attributes"]
        for key, value in gone["custom_attributes"].items():
            custom.setdefault(key, value)
        workspace.remove(gone)
        # Aliases of the merged profile now point at the kept one.
        for alias in kept.get("user_aliases", ()):
            workspace.by_alias[(alias["alias_name"], alias["alias_label"])] = kept["braze_id"]
        merged += 1
    if merged:
        workspace.dirty = True
    return merged


def _alias(value) -> tuple[str, str] | None:
    if (
        isinstance(value, dict)
        and isinstance(value.get("alias_name"), str)
        and isinstance(value.get("alias_label"), str)
        and value["alias_name"]
        and value["alias_label"]
    ):
        return value["alias_name"], value["alias_label"]
    return None


def check_new_aliases(items) -> str | None:
    if not isinstance(items, list) or not items:
        return "user_aliases must be a non-empty array"
    for position, item in enumerate(items):
        if _alias(item) is None:
            return f"user_aliases[{position}] needs string alias_name and alias_label"
        if "external_id" in item and not isinstance(item["external_id"], str):
            return f"user_aliases[{position}].external_id must be a string"
    return None


def new_aliases(workspace, items: list[dict]) -> int:
    """Add an alias to an existing external id, or create an alias-only profile."""
    created = 0
    for item in items:
        key = _alias(item)
        if key in workspace.by_alias:
            continue
        owner = (
            workspace._find("external_id", item["external_id"]) if "external_id" in item else None
        )
        if owner is None:
            workspace._new_profile("user_alias", key)
        else:
            owner.setdefault("user_aliases", []).append(
                {"alias_name": key[0], "alias_label": key[1]}
            )
            workspace.by_alias[key] = owner["braze_id"]
        created += 1
    if created:
        workspace.dirty = True
    return created


def check_identify(items) -> str | None:
    if not isinstance(items, list) or not items:
        return "aliases_to_identify must be a non-empty array"
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("external_id"), str):
            return f"aliases_to_identify[{position}] needs a string external_id"
        if _alias(item.get("user_alias")) is None:
            return f"aliases_to_identify[{position}].user_alias needs string alias_name and alias_label"
    return None


def identify(workspace, items: list[dict]) -> int:
    """An alias-only profile gets the external id; if that id already has a profile, the alias
    profile's data is merged into it (fields it lacks) and the alias joins it."""
    identified = 0
    for item in items:
        key = _alias(item["user_alias"])
        alias_profile = workspace._find("user_alias", key)
        if alias_profile is None:
            continue
        owner = workspace._find("external_id", item["external_id"])
        if owner is alias_profile:
            continue
        if owner is None:
            if alias_profile.get("external_id") is not None:
                continue  # the alias already belongs to an identified profile
            alias_profile["external_id"] = item["external_id"]
            workspace.by_external[item["external_id"]] = alias_profile["braze_id"]
        else:
            merge(
                workspace,
                [
                    {
                        "identifier_to_merge": {"user_alias": item["user_alias"]},
                        "identifier_to_keep": {"external_id": item["external_id"]},
                    }
                ],
            )
        identified += 1
    if identified:
        workspace.dirty = True
    return identified


# /v2/subscription/status/set: per group, the users (by external id, email or phone) to set.
# BRAZE.md documents neither the item limit nor what happens to unknown users: the sandbox takes
# at most 50 users per group entry (like Braze's other user endpoints) and skips unknown users.
_SUBSCRIPTION_USERS = {"external_ids": "external_id", "emails": "email", "phones": "phone"}


def check_subscription_set(groups) -> str | None:
    if not isinstance(groups, list) or not groups:
        return "subscription_groups must be a non-empty array"
    for position, item in enumerate(groups):
        error = check_group_state(item, f"subscription_groups[{position}]")
        if error:
            return f"subscription_groups[{position}]: {error}"
        users = [item.get(key) for key in _SUBSCRIPTION_USERS]
        if all(u is None for u in users):
            return (
                f"subscription_groups[{position}] names no users (external_ids, emails or phones)"
            )
        for key in _SUBSCRIPTION_USERS:
            value = item.get(key)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                return f"subscription_groups[{position}].{key} must be an array of strings"
            if len(value) > 50:
                return f"subscription_groups[{position}].{key}: at most 50 users per request"
    return None


def set_subscription_states(workspace, groups: list[dict]) -> int:
    changed = 0
    for item in groups:
        for key, kind in _SUBSCRIPTION_USERS.items():
            for value in item.get(key) or ():
                profile = workspace._find(kind, value)
                if profile is None:
                    continue
                states = profile.setdefault("subscription_groups", {})
                states[item["subscription_group_id"]] = item["subscription_state"]
                changed += 1
    if changed:
        workspace.dirty = True
    return changed
