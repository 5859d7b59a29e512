"""Typed values -> the exact JSON text Braze receives, column at a time.

The text is canonical (one spelling per value) because the sync compares it day to day: a value that
is re-spelled looks changed and costs a data point. Decimals keep their declared scale with no float
noise, dates are "YYYY-MM-DD", datetimes ISO 8601 UTC with a Z, booleans JSON booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import polars as pl

from braze_assets.attributes.config import AttributeMapping, DestinationConfig
from braze_assets.attributes.fields import is_billable
from braze_assets.attributes.types import AttributeType

__all__ = ["canonical_json", "identifier_object", "is_billable", "payload_json"]

_WRAP_PREFIX = '{"v":'


def _json_strings(values: pl.Series) -> pl.Series:
    # polars escapes strings for JSON only inside a struct; wrap, encode, unwrap.
    encoded = (
        pl.DataFrame({"v": values})
        .select(pl.when(pl.col("v").is_not_null()).then(pl.struct("v").struct.json_encode()))
        .to_series()
    )
    return encoded.str.strip_prefix(_WRAP_PREFIX).str.strip_suffix("}")


def _typed(declared: AttributeType, values: pl.Series) -> pl.Series:
    if (
        declared.kind == "datetime"
        and isinstance(values.dtype, pl.Datetime)
        and values.dtype.time_zone
    ):
        values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if values.dtype != declared.polars:
        values = values.cast(declared.polars, strict=True)
    return values


def canonical_json(mapping: AttributeMapping, values: pl.Series) -> pl.Series:
    """Canonical JSON text per value; nulls become None (nulls: skip) or "null" (nulls: clear)."""
    declared = mapping.attribute_type
    values = _typed(declared, values)
    kind = declared.kind
    if kind == "boolean":
        text = values.cast(pl.String)
    elif kind in ("integer", "decimal"):
        text = values.cast(pl.String)
    elif kind == "float":
        if not values.drop_nulls().is_finite().all():
            raise ValueError(f"attribute {mapping.name!r}: NaN and infinity cannot be sent as JSON")
        # -0.0 == 0.0: one spelling for equal values.
        text = (
            pl.select(pl.when(pl.lit(values) == 0).then(0.0).otherwise(pl.lit(values)))
            .to_series()
            .cast(pl.String)
        )
    elif kind == "date":
        text = '"' + values.dt.strftime("%Y-%m-%d") + '"'
    elif kind == "datetime":
        text = '"' + values.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ") + '"'
    else:
        text = _json_strings(values)
    text = text.alias(mapping.name)
    return text.fill_null("null") if mapping.nulls == "clear" else text


def identifier_object(destination: DestinationConfig, row: Mapping[str, Any]) -> dict[str, Any]:
    """The identifying part of a /users/track attributes object for one braze_customer_attributes row.

    `row` holds the identifier columns of braze_customer_attributes: `external_id`, `braze_id`, or
    `alias_name` and `alias_label`.
    """
    if destination.identifier == "user_alias":
        name, label = row.get("alias_name"), row.get("alias_label")
        if not name or not label:
            raise ValueError(f"destination {destination.name!r}: row has no alias_name/alias_label")
        obj: dict[str, Any] = {"user_alias": {"alias_name": str(name), "alias_label": str(label)}}
    else:
        value = row.get(destination.identifier)
        if value is None or not str(value).strip():
            raise ValueError(
                f"destination {destination.name!r}: row has no {destination.identifier}"
            )
        obj = {destination.identifier: str(value)}
    if destination.update_existing_only:
        obj["_update_existing_only"] = True
    return obj


def payload_json(
    destination: DestinationConfig, row: Mapping[str, Any], attribute_json: Mapping[str, str | None]
) -> str:
    """One attributes object as JSON text: identifier first, then each attribute's canonical text
    (attributes whose text is None, i.e. skipped nulls, are left out)."""
    head = orjson.dumps(identifier_object(destination, row)).decode()[:-1]
    parts = [
        f"{orjson.dumps(name).decode()}:{text}"
        for name, text in attribute_json.items()
        if text is not None
    ]
    return head + "".join("," + part for part in parts) + "}"
