"""The test run: a campaign's first N records and the Braze payloads they would produce; nothing is sent or written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import orjson
import polars as pl

from braze_assets import tables
from braze_assets.attributes.config import DestinationConfig
from braze_assets.attributes.serialise import identifier_object
from braze_assets.audiences.campaigns import TREATMENT, plan_activation
from braze_assets.audiences.columns import ID_COLUMN
from braze_assets.audiences.config import AudiencesConfig
from braze_assets.warehouse import quote, table_columns, table_exists

ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES


def membership_update(mode: str, attribute: str, value: str | None, joined: bool) -> dict[str, Any]:
    """The custom-attribute fragment Braze receives for a join (or a leave) of one audience."""
    if mode == "array":
        return {attribute: {"add" if joined else "remove": [value]}}
    return {attribute: joined}


def _identifiers(
    con: duckdb.DuckDBPyConnection, destination: DestinationConfig | None, ids: list[str]
) -> dict[str, dict]:
    """customer_id -> the identifying part of the Braze object, from braze_customer_attributes (built by
    braze_assets.attributes); customers without a row there have no Braze identifier yet and are not sent."""
    if destination is None or not ids or not table_exists(con, ATTRIBUTES_TABLE):
        return {}
    columns = [
        c for c in destination.identifier_columns if c in table_columns(con, ATTRIBUTES_TABLE)
    ]
    if not columns:
        return {}
    picks = ", ".join(quote(c) for c in columns)
    rows = con.execute(
        f"SELECT customer_id, {picks} FROM {ATTRIBUTES_TABLE} WHERE destination = ? AND customer_id IN (SELECT unnest(?::VARCHAR[]))",
        [destination.name, ids],
    ).pl()
    found = {}
    for row in rows.iter_rows(named=True):
        try:
            found[row[ID_COLUMN]] = identifier_object(destination, row)
        except ValueError:
            continue  # no identifier value: the sync skips this profile too
    return found


def _previous(con: duckdb.DuckDBPyConnection, campaign: str) -> pl.DataFrame:
    schema = {
        "audience": pl.Utf8,
        ID_COLUMN: pl.Utf8,
        "membership_attribute": pl.Utf8,
        "membership_value": pl.Utf8,
    }
    if not table_exists(con, tables.AUDIENCE_MEMBERS):
        return pl.DataFrame(schema=schema)
    return (
        con.execute(
            "SELECT audience, customer_id, membership_attribute, membership_value FROM audience_members "
            "WHERE campaign = ? AND member_group = 'treatment'",
            [campaign],
        )
        .pl()
        .cast(schema)
    )


def preview_campaign(
    con: duckdb.DuckDBPyConnection,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    limit: int | None = None,
    columns: Mapping[str, str] | None = None,
    destination: DestinationConfig | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` (default: the campaign's test_run_records) joining or staying members, then up to
    `limit` leaving ones, each with `change` (join / stay / leave) and the payload carrying its full
    intended values (the sync later sends only what changed). Run it on a read-only connection.

    `destination` (the campaign's DestinationConfig) supplies the Braze identifier; a record whose
    customer has no identifier in braze_customer_attributes yet has `identified: False` and a payload
    without one, since the sync cannot send it."""
    plan = plan_activation(con, name, audiences, as_of, columns)
    act, limit = plan.activation, limit or plan.activation.test_run_records
    previous = _previous(con, act.name)
    keys = ["audience", ID_COLUMN]
    current = plan.members.filter(pl.col("member_group") == TREATMENT)
    was_member = previous.select(keys).with_columns(was_member=pl.lit(True))
    shown = (
        current.head(limit)
        .join(was_member, on=keys, how="left", maintain_order="left")
        .with_columns(
            change=pl.when(pl.col("was_member")).then(pl.lit("stay")).otherwise(pl.lit("join"))
        )
    )
    leaving = (
        previous.join(current.select(keys), on=keys, how="anti")
        .sort(ID_COLUMN)
        .head(limit)
        .with_columns(change=pl.lit("leave"))
    )
    ids = [*shown[ID_COLUMN], *leaving[ID_COLUMN]]
    identifiers = _identifiers(con, destination, ids)
    values: dict[str, dict[str, Any]] = {}
    for customer, key, text in plan.attribute_texts.iter_rows():
        values.setdefault(customer, {})[key] = orjson.loads(text)
    records = []
    for row in [*shown.iter_rows(named=True), *leaving.iter_rows(named=True)]:
        customer = row[ID_COLUMN]
        joined = row["change"] != "leave"
        payload: dict[str, Any] = dict(identifiers.get(customer, {}))
        payload.update(
            membership_update(
                act.membership.mode, row["membership_attribute"], row["membership_value"], joined
            )
        )
        if joined:
            payload.update(values.get(customer, {}))
        records.append(
            {
                "customer_id": customer,
                "audience": row["audience"],
                "change": row["change"],
                "identified": customer in identifiers,
                "payload": payload,
            }
        )
    return records
