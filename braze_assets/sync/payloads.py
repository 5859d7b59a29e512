"""Changes -> /users/track attribute objects: one object per profile, identifier first.

A profile's changed values ride in one object (one request slot, whatever the number of
attributes). Array memberships become {"add": [...], "remove": [...]} so only the elements that
moved are billed; a left boolean membership is sent as false; a cleared value as null.
"""

from __future__ import annotations

import orjson
import polars as pl

from braze_assets.attributes.fields import ALIAS_KEY_PREFIX

# Braze accepts email and phone as /users/track identifiers too (when no other identifier is given).
IDENTIFIER_TYPES = ("external_id", "braze_id", "user_alias", "email", "phone")


def build_rows(
    changes: pl.DataFrame, identifier_type: str, update_existing_only: bool
) -> list[bytes]:
    """`changes` sorted by obj_idx (0..n-1) -> one JSON object (bytes) per profile, list position ==
    obj_idx. Built column-wise by polars: value_json is JSON already, so no Python dict is made per
    profile and the client joins the rows into request bodies as they are."""
    if changes.is_empty():
        return []
    order = changes["obj_idx"]
    if order[0] != 0 or not (order.diff().drop_nulls().is_between(0, 1)).all():
        raise ValueError("changes are not ordered by obj_idx from 0 without gaps")
    fragments = pl.concat(
        [_value_fragments(changes), _array_fragments(changes)], how="vertical"
    ).sort("obj_idx", "attribute", maintain_order=True)
    missing = fragments.filter(pl.col("fragment").is_null())
    if len(missing):
        idx, attribute = missing.row(0)[:2]
        raise ValueError(
            f"change {attribute!r} of object {idx} has no value_json although it is not a remove or leave"
        )
    # All objects as one text, each closed by a NUL, which JSON text cannot contain: one split in C
    # then yields the rows, rather than a group-by building a million short strings.
    first = pl.col("obj_idx") != pl.col("obj_idx").shift(1)
    last = pl.col("obj_idx") != pl.col("obj_idx").shift(-1)
    flag = ',"_update_existing_only":true' if update_existing_only else ""
    text = fragments.select(
        pl.concat_str(
            pl.when(first.fill_null(True))
            .then(
                pl.concat_str(
                    _identifier_head(fragments["identifier"], identifier_type), pl.lit(flag + ",")
                )
            )
            .otherwise(pl.lit(",")),
            pl.col("fragment"),
            pl.when(last.fill_null(True)).then(pl.lit("}\x00")).otherwise(pl.lit("")),
        ).str.join("")
    ).item()
    return text.encode().split(b"\x00")[:-1]


def _json_text(column: pl.Series) -> pl.Expr:
    """JSON string literals for a low-cardinality text column (attribute names, array elements)."""
    mapping = {value: orjson.dumps(value).decode() for value in column.unique().drop_nulls()}
    return pl.col(column.name).replace_strict(mapping, default=None, return_dtype=pl.String)


def _value_fragments(changes: pl.DataFrame) -> pl.DataFrame:
    """`"attribute":value` for values and boolean memberships; null clears, false leaves."""
    values = changes.filter(pl.col("kind") != "membership_array")
    value = (
        pl.when(pl.col("op") == "remove")
        .then(pl.lit("null"))
        .when(pl.col("op") == "leave")
        .then(pl.lit("false"))
        .otherwise(pl.col("value_json"))
    )
    return values.select(
        "obj_idx",
        "attribute",
        "identifier",
        pl.concat_str(_json_text(values["attribute"]), pl.lit(":"), value).alias("fragment"),
    )


def _array_fragments(changes: pl.DataFrame) -> pl.DataFrame:
    """`"attribute":{"add":[...],"remove":[...]}` for array memberships: only the moved elements."""
    arrays = changes.filter(pl.col("kind") == "membership_array")
    if arrays.is_empty():
        return pl.DataFrame(
            schema={
                "obj_idx": changes["obj_idx"].dtype,
                "attribute": pl.String,
                "identifier": pl.String,
                "fragment": pl.String,
            }
        )
    arrays = arrays.with_columns(
        element=_json_text(arrays["element"]), name=_json_text(arrays["attribute"])
    )
    joined = pl.col("element").filter(pl.col("op") == "join")
    left = pl.col("element").filter(pl.col("op") != "join")
    grouped = arrays.group_by("obj_idx", "attribute", maintain_order=True).agg(
        pl.first("name", "identifier"),
        joined.str.join(",").alias("add"),
        left.str.join(",").alias("remove"),
    )
    ops = (
        pl.concat_list(
            pl.when(pl.col("add") != "").then(
                pl.concat_str(pl.lit('"add":['), pl.col("add"), pl.lit("]"))
            ),
            pl.when(pl.col("remove") != "").then(
                pl.concat_str(pl.lit('"remove":['), pl.col("remove"), pl.lit("]"))
            ),
        )
        .list.drop_nulls()
        .list.join(",")
    )
    fragment = pl.concat_str(pl.col("name"), pl.lit(":{"), ops, pl.lit("}")).alias("fragment")
    return grouped.select("obj_idx", "attribute", "identifier", fragment)


def _alias_head(text: pl.Expr) -> pl.Expr:
    """{"user_alias": {...}} of 'alias_label:alias_name' text."""
    parts = text.str.splitn(":", 2)
    return pl.struct(
        pl.struct(
            parts.struct.field("field_1").alias("alias_name"),
            parts.struct.field("field_0").alias("alias_label"),
        ).alias("user_alias")
    )


def _identifier_head(identifiers: pl.Series, identifier_type: str) -> pl.Expr:
    """The object's identifying keys as JSON without its closing brace (`label:name` for aliases)."""
    column = pl.col("identifier")
    if identifier_type == "user_alias":
        bad = identifiers.filter(~identifiers.str.contains(r"^[^:]+:.+$"))
        if len(bad):
            raise ValueError(f"user_alias identifier {bad[0]!r} must be 'alias_label:alias_name'")
        key = _alias_head(column)
    elif identifier_type in IDENTIFIER_TYPES:
        key = pl.struct(column.alias(identifier_type))
        if identifier_type == "external_id" and identifiers.str.starts_with(ALIAS_KEY_PREFIX).any():
            # Customers without an external id yet, keyed by their alias profile.
            key = (
                pl.when(column.str.starts_with(ALIAS_KEY_PREFIX))
                .then(_alias_head(column.str.strip_prefix(ALIAS_KEY_PREFIX)).struct.json_encode())
                .otherwise(key.struct.json_encode())
            )
            return key.str.strip_suffix("}")
    else:
        raise ValueError(
            f"unknown identifier type {identifier_type!r}; expected one of {', '.join(IDENTIFIER_TYPES)}"
        )
    return key.struct.json_encode().str.strip_suffix("}")


def sample_json(rows: list[bytes], n: int) -> list[str]:
    return [row.decode() for row in rows[:n]]
