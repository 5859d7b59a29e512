"""Changes -> /users/track rows: the column-wise builder against a plain per-row reading."""

from __future__ import annotations

import random

import orjson
import polars as pl
import pytest

from braze_assets.sync.payloads import build_rows, sample_json

COLUMNS = ("obj_idx", "identifier", "attribute", "element", "kind", "op", "value_json")


def expected_objects(
    rows: list[tuple], identifier_type: str, update_existing_only: bool
) -> list[dict]:
    """The meaning of a change, one row at a time (the oracle)."""
    objects: dict[int, dict] = {}
    for idx, identifier, attribute, element, kind, op, value_json in rows:
        if idx not in objects:
            if identifier_type == "user_alias":
                label, _, name = identifier.partition(":")
                objects[idx] = {"user_alias": {"alias_name": name, "alias_label": label}}
            else:
                objects[idx] = {identifier_type: identifier}
            if update_existing_only:
                objects[idx]["_update_existing_only"] = True
        obj = objects[idx]
        if kind == "membership_array":
            obj.setdefault(attribute, {}).setdefault(
                "add" if op == "join" else "remove", []
            ).append(element)
        else:
            obj[attribute] = (
                None if op == "remove" else False if op == "leave" else orjson.loads(value_json)
            )
    return [objects[i] for i in sorted(objects)]


def random_changes(seed: int, profiles: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for idx in range(profiles):
        identifier = rng.choice(["u", 'q"uote', "é-ü", "a:b", "back\\slash"]) + f"{idx}"
        for attribute in sorted(
            rng.sample(
                ["tier", "score", "vip", "campaigns", 'odd "name"', "profile"], rng.randint(1, 4)
            )
        ):
            if attribute == "campaigns":
                for element in sorted(rng.sample(["spring", "winter", 'x"y'], rng.randint(1, 3))):
                    op = rng.choice(["join", "leave"])
                    rows.append(
                        (
                            idx,
                            identifier,
                            attribute,
                            element,
                            "membership_array",
                            op,
                            orjson.dumps(element).decode() if op == "join" else None,
                        )
                    )
            elif attribute == "vip":
                op = rng.choice(["join", "leave"])
                rows.append(
                    (
                        idx,
                        identifier,
                        attribute,
                        "",
                        "membership_bool",
                        op,
                        "true" if op == "join" else None,
                    )
                )
            else:
                op = rng.choice(["add", "change", "remove"])
                value = rng.choice(
                    ['"gold"', "1.5", "null", '{"a":[1,"2"]}', '"2026-11-29T00:00:00Z"', "true"]
                )
                rows.append(
                    (idx, identifier, attribute, "", "value", op, None if op == "remove" else value)
                )
    return rows


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=list(COLUMNS), orient="row", schema_overrides={"obj_idx": pl.Int64}
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("update_existing_only", [True, False])
def test_rows_mean_what_each_change_says(seed, update_existing_only):
    rows = random_changes(seed, 300)
    built = build_rows(frame(rows), "external_id", update_existing_only)
    assert [orjson.loads(r) for r in built] == expected_objects(
        rows, "external_id", update_existing_only
    )
    # Identifier first, then the flag: Braze reads the object's identity before its attributes.
    assert all(r.startswith(b'{"external_id":') for r in built)


def test_user_alias_rows_and_a_malformed_alias():
    rows = [
        (0, "loyalty:a:b", "tier", "", "value", "add", '"gold"'),
        (1, "crm:42", "tier", "", "value", "remove", None),
    ]
    built = build_rows(frame(rows), "user_alias", False)
    assert [orjson.loads(r) for r in built] == expected_objects(rows, "user_alias", False)
    with pytest.raises(ValueError, match="'no-colon' must be 'alias_label:alias_name'"):
        build_rows(
            frame([(0, "no-colon", "tier", "", "value", "add", '"gold"')]), "user_alias", False
        )


def test_unordered_changes_and_unknown_identifier_types_are_refused():
    with pytest.raises(ValueError, match="ordered by obj_idx"):
        build_rows(
            frame(
                [
                    (1, "u", "tier", "", "value", "add", '"a"'),
                    (0, "v", "tier", "", "value", "add", '"b"'),
                ]
            ),
            "external_id",
            False,
        )
    with pytest.raises(ValueError, match="unknown identifier type 'mobile'"):
        build_rows(frame([(0, "u", "tier", "", "value", "add", '"a"')]), "mobile", False)
    with pytest.raises(ValueError, match="'tier' of object 0 has no value_json"):
        build_rows(frame([(0, "u", "tier", "", "value", "add", None)]), "external_id", False)
    assert build_rows(frame([]), "external_id", False) == []


def test_samples_are_the_rows_as_text():
    built = build_rows(frame([(0, "u1", "tier", "", "value", "add", '"gold"')]), "braze_id", False)
    assert sample_json(built, 5) == ['{"braze_id":"u1","tier":"gold"}']
