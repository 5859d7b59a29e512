"""Changes -> /users/track attribute objects: one object per profile, identifier first.

A profile's changed values ride in one object (one request slot, whatever the number of
attributes). Array memberships become {"add": [...], "remove": [...]} so only the elements that
moved are billed; a left boolean membership is sent as false; a cleared value as null.
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

IDENTIFIER_TYPES = ("external_id", "braze_id", "user_alias")


def identifier_fields(identifier_type: str, identifier: str) -> dict[str, Any]:
    """The identifying keys for the text key of attribute_snapshots (`label:name` for aliases)."""
    if identifier_type == "user_alias":
        label, sep, name = identifier.partition(":")
        if not sep or not label or not name:
            raise ValueError(f"user_alias identifier {identifier!r} must be 'alias_label:alias_name'")
        return {"user_alias": {"alias_name": name, "alias_label": label}}
    if identifier_type not in IDENTIFIER_TYPES:
        raise ValueError(f"unknown identifier type {identifier_type!r}; expected one of {', '.join(IDENTIFIER_TYPES)}")
    return {identifier_type: identifier}


def build_objects(changes: pl.DataFrame, identifier_type: str, update_existing_only: bool) -> list[dict[str, Any]]:
    """`changes` sorted by obj_idx (0..n-1) -> list of objects where list position == obj_idx."""
    objects: list[dict[str, Any]] = []
    current = -1
    obj: dict[str, Any] = {}
    loads = orjson.loads
    columns = [changes[c].to_list() for c in ("obj_idx", "identifier", "attribute", "element", "kind", "op", "value_json")]
    for idx, identifier, attribute, element, kind, op, value_json in zip(*columns):
        if idx != current:
            if idx != current + 1:
                raise ValueError(f"changes are not ordered by obj_idx: {idx} after {current}")
            obj = identifier_fields(identifier_type, identifier)
            if update_existing_only:
                obj["_update_existing_only"] = True
            objects.append(obj)
            current = idx
        if kind == "membership_array":
            ops = obj.get(attribute)
            if not isinstance(ops, dict):
                ops = obj[attribute] = {}
            ops.setdefault("add" if op == "join" else "remove", []).append(element)
        elif op == "remove":
            obj[attribute] = None
        elif op == "leave":
            obj[attribute] = False
        else:
            obj[attribute] = loads(value_json)
    return objects


def sample_json(objects: list[dict[str, Any]], n: int) -> list[str]:
    return [orjson.dumps(o).decode() for o in objects[:n]]
