"""attribute_snapshots: the full intended Braze state of one day, long and compact.

One row per (destination, identifier, attribute, element) with the value's canonical JSON text and
its 64-bit hash, from three inputs:
- braze_customer_attributes (one typed column per mapped attribute), serialised with the
  attributes module's canonical_json so a value has exactly one spelling day to day;
- audience_members treatment rows: boolean membership -> `true`, array membership -> one row per
  array element (so joining and leaving are element-level changes);
- campaign_member_attributes (per-campaign attributes of treatment members).

NULL values are left out: absence means "no value", and the diff decides per the mapping's
`nulls` setting whether a disappeared value is cleared in Braze.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.attributes.config import DestinationConfig
from braze_assets.attributes.fields import is_billable
from braze_assets.attributes.serialise import canonical_json
from braze_assets.lifecycle.profiles import suppressed_identifiers_sql
from braze_assets.lifecycle.tables import DELETIONS
from braze_assets.sync.tables import (
    KEY_ID_SQL,
    KIND_MEMBERSHIP_ARRAY,
    KIND_MEMBERSHIP_BOOL,
    KIND_VALUE,
    SNAPSHOTS,
    ensure_tables,
)
from braze_assets.warehouse import quote, table_columns, table_exists, transaction

ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
MEMBERS_TABLE = tables.AUDIENCE_MEMBERS
CAMPAIGN_ATTRIBUTES_TABLE = tables.CAMPAIGN_MEMBER_ATTRIBUTES


@dataclass
class SnapshotReport:
    snapshot_date: dt.date
    rows: dict[str, int] = field(default_factory=dict)
    identifiers: dict[str, int] = field(default_factory=dict)
    memberships: dict[str, int] = field(default_factory=dict)
    members_without_identifier: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    pruned_rows: int = 0


def _catalog(destination: DestinationConfig) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "attribute": [m.name for m in destination.attributes],
            "attr_type": [m.type for m in destination.attributes],
            "billable": [is_billable(m.name) for m in destination.attributes],
            "campaign_scope": [m.scope == "campaign_members" for m in destination.attributes],
        },
        schema={
            "attribute": pl.String,
            "attr_type": pl.String,
            "billable": pl.Boolean,
            "campaign_scope": pl.Boolean,
        },
    )


def _value_texts(con: duckdb.DuckDBPyConnection, destination: DestinationConfig) -> pl.DataFrame:
    """identifier + one canonical JSON text column per mapped attribute (wide)."""
    if not table_exists(con, ATTRIBUTES_TABLE):
        raise ValueError(
            f"table {ATTRIBUTES_TABLE} does not exist: materialise the attributes first"
        )
    present = table_columns(con, ATTRIBUTES_TABLE)
    missing = [m.name for m in destination.attributes if m.name not in present]
    if missing:
        raise ValueError(
            f"destination {destination.name!r}: {ATTRIBUTES_TABLE} has no column for attribute(s) "
            f"{', '.join(missing)}; rebuild the attributes after changing the mapping"
        )
    cols = ", ".join(quote(m.name) for m in destination.attributes)
    wide = con.execute(
        f"SELECT identifier, {cols} FROM {ATTRIBUTES_TABLE} WHERE destination = ? AND identifier IS NOT NULL",
        [destination.name],
    ).pl()
    texts = [wide["identifier"]]
    for mapping in destination.attributes:
        try:
            texts.append(canonical_json(mapping, wide[mapping.name]))
        except Exception as exc:
            raise ValueError(
                f"destination {destination.name!r}, attribute {mapping.name!r}: {exc}"
            ) from exc
    return pl.DataFrame(texts)


def _intended_sql(
    destination: DestinationConfig, has_members: bool, has_campaign_attrs: bool
) -> str:
    names = ", ".join(quote(m.name) for m in destination.attributes)
    parts = [
        f"""SELECT u.identifier, u.attribute, '' AS element, '{KIND_VALUE}' AS kind, c.attr_type, c.billable,
                   u.value_json, 0 AS priority, c.campaign_scope
            FROM (UNPIVOT _snap_wide ON {names} INTO NAME attribute VALUE value_json) u
            JOIN _snap_catalog c USING (attribute)
            WHERE u.value_json <> 'null'"""
    ]
    if has_members:
        parts.append(
            f"""SELECT DISTINCT b.identifier, m.membership_attribute AS attribute,
                   CASE WHEN m.membership_mode = 'array' THEN m.membership_value ELSE '' END AS element,
                   CASE WHEN m.membership_mode = 'array' THEN '{KIND_MEMBERSHIP_ARRAY}'
                        ELSE '{KIND_MEMBERSHIP_BOOL}' END AS kind,
                   CASE WHEN m.membership_mode = 'array' THEN 'array' ELSE 'boolean' END AS attr_type,
                   is_billable(m.membership_attribute) AS billable,
                   CASE WHEN m.membership_mode = 'array' THEN to_json(m.membership_value)::VARCHAR ELSE 'true' END
                       AS value_json,
                   1 AS priority, false AS campaign_scope
            FROM {MEMBERS_TABLE} m JOIN _snap_ids b ON b.customer_id = m.customer_id
            WHERE m.destination = $destination AND m.member_group = 'treatment'
              AND (m.membership_mode <> 'array' OR m.membership_value IS NOT NULL)"""
        )
    if has_campaign_attrs:
        parts.append(
            f"""SELECT b.identifier, a.attribute, '' AS element, '{KIND_VALUE}' AS kind, 'json' AS attr_type,
                   is_billable(a.attribute) AS billable, CAST(a.value AS VARCHAR) AS value_json,
                   2 + dense_rank() OVER (ORDER BY a.campaign) AS priority, false AS campaign_scope
            FROM {CAMPAIGN_ATTRIBUTES_TABLE} a JOIN _snap_ids b ON b.customer_id = a.customer_id
            WHERE a.destination = $destination AND a.value IS NOT NULL AND CAST(a.value AS VARCHAR) <> 'null'"""
        )
    return " UNION ALL ".join(parts)


def build_snapshot(
    con: duckdb.DuckDBPyConnection,
    destinations: Sequence[DestinationConfig],
    snapshot_date: dt.date,
    *,
    retention_days: int | None = None,
) -> SnapshotReport:
    """Replace the `snapshot_date` rows of every destination (idempotent) and prune old days."""
    ensure_tables(con)
    report = SnapshotReport(snapshot_date)
    has_members = table_exists(con, MEMBERS_TABLE)
    has_campaign_attrs = table_exists(con, CAMPAIGN_ATTRIBUTES_TABLE)
    con.create_function("is_billable", is_billable, ["VARCHAR"], "BOOLEAN", side_effects=False)
    try:
        for destination in destinations:
            _build_destination(
                con, destination, snapshot_date, has_members, has_campaign_attrs, report
            )
        if retention_days is not None:
            report.pruned_rows = prune_snapshots(con, snapshot_date, retention_days)
    finally:
        con.remove_function("is_billable")
    return report


def _build_destination(
    con,
    destination: DestinationConfig,
    snapshot_date: dt.date,
    has_members: bool,
    has_campaign_attrs: bool,
    report: SnapshotReport,
) -> None:
    name = destination.name
    wide = _value_texts(con, destination)
    con.register("_snap_wide", wide)
    con.register("_snap_catalog", _catalog(destination))
    con.register(
        "_snap_ids",
        con.execute(
            f"SELECT customer_id, identifier FROM {ATTRIBUTES_TABLE} WHERE destination = ? AND identifier IS NOT NULL",
            [name],
        ).pl(),
    )
    params = {"destination": name} if (has_members or has_campaign_attrs) else {}
    try:
        intended = _intended_sql(destination, has_members, has_campaign_attrs)
        members_cte = (
            f"""members AS (SELECT DISTINCT b.identifier FROM {MEMBERS_TABLE} m
                JOIN _snap_ids b ON b.customer_id = m.customer_id
                WHERE m.destination = $destination AND m.member_group = 'treatment')"""
            if has_members
            else "members AS (SELECT NULL::VARCHAR AS identifier WHERE false)"
        )
        with transaction(con):
            con.execute(
                f"DELETE FROM {SNAPSHOTS} WHERE snapshot_date = ? AND destination = ?",
                [snapshot_date, name],
            )
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _snap_rows AS
                WITH intended AS ({intended}), {members_cte}
                SELECT i.* EXCLUDE (campaign_scope) FROM intended i
                WHERE NOT i.campaign_scope OR i.identifier IN (SELECT identifier FROM members)""",
                params,
            )
            kinds = con.execute(
                """SELECT attribute, string_agg(DISTINCT kind, ', ') FROM _snap_rows
                   GROUP BY attribute HAVING count(DISTINCT kind) > 1 LIMIT 1"""
            ).fetchone()
            if kinds:
                raise ValueError(
                    f"destination {name!r}: attribute {kinds[0]!r} is used both as {kinds[1]}; "
                    "an audience membership attribute must not also be a mapped or campaign attribute"
                )
            # Mapped values and memberships cannot collide (distinct attribute names, one row per
            # identifier); a campaign attribute yields to them, and to the alphabetically first campaign.
            con.execute(
                f"""INSERT INTO {SNAPSHOTS}
                WITH campaign AS (
                    SELECT c.* FROM _snap_rows c
                    WHERE c.priority >= 2 AND NOT EXISTS (
                        SELECT 1 FROM _snap_rows o WHERE o.priority < 2 AND o.identifier = c.identifier
                          AND o.attribute = c.attribute AND o.element = c.element)
                    QUALIFY row_number() OVER (PARTITION BY identifier, attribute ORDER BY priority) = 1
                )
                SELECT ?::DATE, ?, identifier, attribute, element, {KEY_ID_SQL}, kind, attr_type, billable,
                       value_json, hash(value_json)
                FROM (SELECT * FROM _snap_rows WHERE priority < 2 UNION ALL SELECT * FROM campaign)""",
                [snapshot_date, name],
            )
            if table_exists(con, DELETIONS):
                # A profile deleted on a privacy request is never sent again.
                con.execute(
                    f"""DELETE FROM {SNAPSHOTS} WHERE snapshot_date = $day AND destination = $destination
                        AND identifier IN ({suppressed_identifiers_sql()})""",
                    {"day": snapshot_date, "destination": name},
                )
            rows, ids, memberships, claimed = con.execute(
                f"""SELECT (SELECT count(*) FROM {SNAPSHOTS} WHERE snapshot_date = ? AND destination = ?),
                           (SELECT count(DISTINCT identifier) FROM _snap_rows),
                           (SELECT count(*) FROM _snap_rows WHERE kind <> '{KIND_VALUE}'),
                           (SELECT count(*) FROM _snap_rows)""",
                [snapshot_date, name],
            ).fetchone()
            conflicts = claimed - rows
            con.execute("DROP TABLE _snap_rows")
        report.rows[name], report.identifiers[name] = rows, ids
        report.memberships[name], report.conflicts[name] = memberships, conflicts
        if has_members:
            report.members_without_identifier[name] = con.execute(
                f"""SELECT count(DISTINCT m.customer_id) FROM {MEMBERS_TABLE} m ANTI JOIN _snap_ids b
                    ON b.customer_id = m.customer_id
                    WHERE m.destination = ? AND m.member_group = 'treatment'""",
                [name],
            ).fetchone()[0]
    finally:
        for view in ("_snap_wide", "_snap_catalog", "_snap_ids"):
            con.unregister(view)


def prune_snapshots(con: duckdb.DuckDBPyConnection, today: dt.date, retention_days: int) -> int:
    """Delete snapshot days older than `retention_days` before `today`; return the rows deleted."""
    cutoff = today - dt.timedelta(days=retention_days)
    return con.execute(f"DELETE FROM {SNAPSHOTS} WHERE snapshot_date <= ?", [cutoff]).fetchone()[0]
