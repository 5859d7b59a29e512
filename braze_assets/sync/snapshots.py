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

Written once against the Engine: the values are serialised in Python over Arrow batches
(map_batches; on Spark on the executors), everything else is SQL, and the day's rows of a
destination are replaced in the stored table (replace_rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from braze_assets import tables
from braze_assets.attributes.config import AttributeMapping, DestinationConfig
from braze_assets.attributes.fields import is_billable
from braze_assets.attributes.serialise import canonical_json
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.lifecycle.profiles import suppressed_identifiers_sql
from braze_assets.lifecycle.tables import DELETIONS
from braze_assets.sync.tables import (
    KEY_ID_SQL,
    KIND_MEMBERSHIP_ARRAY,
    KIND_MEMBERSHIP_BOOL,
    KIND_VALUE,
    SNAPSHOT_COLUMNS,
    SNAPSHOTS,
    VALUE_HASH_SQL,
)
from braze_assets.warehouse import quote

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


def _catalog(destination: DestinationConfig) -> pa.Table:
    return pa.table(
        [
            pa.array([m.name for m in destination.attributes], pa.string()),
            pa.array([m.type for m in destination.attributes], pa.string()),
            pa.array([is_billable(m.name) for m in destination.attributes], pa.bool_()),
            pa.array([m.scope == "campaign_members" for m in destination.attributes], pa.bool_()),
        ],
        names=["attribute", "attr_type", "billable", "campaign_scope"],
    )


def _value_texts(engine: Engine, destination: DestinationConfig) -> None:
    """`_snap_values` (identifier, attribute, value_json): each mapped attribute's canonical JSON
    text, one row per identifier and attribute without NULL values (long: the Python serialiser
    unpivots each batch, on the executors on Spark)."""
    if not engine.table_exists(ATTRIBUTES_TABLE):
        raise ValueError(
            f"table {ATTRIBUTES_TABLE} does not exist: materialise the attributes first"
        )
    present = engine.columns(ATTRIBUTES_TABLE)
    missing = [m.name for m in destination.attributes if m.name not in present]
    if missing:
        raise ValueError(
            f"destination {destination.name!r}: {ATTRIBUTES_TABLE} has no column for attribute(s) "
            f"{', '.join(missing)}; rebuild the attributes after changing the mapping"
        )
    cols = ", ".join(quote(m.name) for m in destination.attributes)
    mappings = list(destination.attributes)
    name = destination.name

    def texts(batch: pa.Table) -> pa.Table:
        wide = pl.from_arrow(batch)
        parts = [pl.DataFrame(schema=_VALUES_SCHEMA)]
        for mapping in mappings:
            try:
                text = canonical_json(mapping, wide[mapping.name])
            except Exception as exc:
                raise ValueError(
                    f"destination {name!r}, attribute {mapping.name!r}: {exc}"
                ) from exc
            parts.append(
                pl.DataFrame({"identifier": wide["identifier"], "value_json": text})
                .drop_nulls("value_json")
                .select("identifier", attribute=pl.lit(mapping.name), value_json="value_json")
            )
        return pl.concat(parts).to_arrow()

    engine.map_batches(
        "_snap_values",
        f"SELECT identifier, {cols} FROM {ATTRIBUTES_TABLE} WHERE destination = "
        f"(SELECT destination FROM _snap_run) AND identifier IS NOT NULL",
        texts,
        pa.schema([(c, pa.string()) for c in _VALUES_SCHEMA]),
    )


_VALUES_SCHEMA = {"identifier": pl.String, "attribute": pl.String, "value_json": pl.String}


def _intended_sql(has_members: bool, has_campaign_attrs: bool) -> str:
    parts = [
        f"""SELECT u.identifier, u.attribute, '' AS element, '{KIND_VALUE}' AS kind, c.attr_type, c.billable,
                   u.value_json, 0 AS priority, c.campaign_scope
            FROM _snap_values u
            JOIN _snap_catalog c ON c.attribute = u.attribute
            WHERE u.value_json <> 'null'"""
    ]
    if has_members:
        parts.append(
            f"""SELECT DISTINCT b.identifier, m.membership_attribute AS attribute,
                   CASE WHEN m.membership_mode = 'array' THEN m.membership_value ELSE '' END AS element,
                   CASE WHEN m.membership_mode = 'array' THEN '{KIND_MEMBERSHIP_ARRAY}'
                        ELSE '{KIND_MEMBERSHIP_BOOL}' END AS kind,
                   CASE WHEN m.membership_mode = 'array' THEN 'array' ELSE 'boolean' END AS attr_type,
                   f.billable,
                   CASE WHEN m.membership_mode = 'array' THEN j.value_json ELSE 'true' END
                       AS value_json,
                   1 AS priority, false AS campaign_scope
            FROM {MEMBERS_TABLE} m JOIN _snap_ids b ON b.customer_id = m.customer_id
            JOIN _snap_billable f ON f.attribute = m.membership_attribute
            LEFT JOIN _snap_json j ON j.membership_value = m.membership_value
            WHERE m.destination = (SELECT destination FROM _snap_run) AND m.member_group = 'treatment'
              AND (m.membership_mode <> 'array' OR m.membership_value IS NOT NULL)"""
        )
    if has_campaign_attrs:
        parts.append(
            f"""SELECT b.identifier, a.attribute, '' AS element, '{KIND_VALUE}' AS kind, 'json' AS attr_type,
                   f.billable, CAST(a.value AS VARCHAR) AS value_json,
                   2 + dense_rank() OVER (ORDER BY a.campaign) AS priority, false AS campaign_scope
            FROM {CAMPAIGN_ATTRIBUTES_TABLE} a JOIN _snap_ids b ON b.customer_id = a.customer_id
            JOIN _snap_billable f ON f.attribute = a.attribute
            WHERE a.destination = (SELECT destination FROM _snap_run) AND a.value IS NOT NULL
              AND CAST(a.value AS VARCHAR) <> 'null'"""
        )
    return " UNION ALL ".join(parts)


def build_snapshot(
    con,
    destinations: Sequence[DestinationConfig],
    snapshot_date: dt.date,
    *,
    retention_days: int | None = None,
) -> SnapshotReport:
    """Replace the `snapshot_date` rows of every destination (idempotent) and prune old days.
    `con` is an Engine (or a DuckDB connection, which is wrapped)."""
    engine = as_engine(con)
    engine.create_table(SNAPSHOTS, SNAPSHOT_COLUMNS)
    report = SnapshotReport(snapshot_date)
    has_members = engine.table_exists(MEMBERS_TABLE)
    has_campaign_attrs = engine.table_exists(CAMPAIGN_ATTRIBUTES_TABLE)
    for destination in destinations:
        _build_destination(
            engine, destination, snapshot_date, has_members, has_campaign_attrs, report
        )
    if retention_days is not None:
        report.pruned_rows = prune_snapshots(engine, snapshot_date, retention_days)
    return report


_ROW_COLUMNS = "identifier, attribute, element, kind, attr_type, billable, value_json, priority"
# An array membership's element is sent as a JSON string, spelled as every text value is.
_MEMBERSHIP_TEXT = AttributeMapping(name="membership", column="membership", type="string")


def _billable_and_json(engine: Engine, has_members: bool, has_campaign_attrs: bool) -> None:
    """`_snap_billable` (attribute, billable) for the membership and campaign attribute names and
    `_snap_json` (membership_value, value_json) for array memberships: Python per distinct value."""
    names = []
    if has_members:
        names.append(f"SELECT membership_attribute AS attribute FROM {MEMBERS_TABLE}")
    if has_campaign_attrs:
        names.append(f"SELECT attribute FROM {CAMPAIGN_ATTRIBUTES_TABLE}")
    names = names or ["SELECT CAST(NULL AS VARCHAR) AS attribute WHERE false"]
    engine.map_distinct(
        "_snap_billable",
        f"SELECT DISTINCT attribute FROM ({' UNION ALL '.join(names)}) n WHERE attribute IS NOT NULL",
        ["attribute"],
        lambda attribute: (is_billable(attribute),),
        ["billable"],
        {"billable": pa.bool_()},
    )
    values = (
        f"SELECT DISTINCT membership_value FROM {MEMBERS_TABLE} WHERE membership_value IS NOT NULL"
        if has_members
        else "SELECT CAST(NULL AS VARCHAR) AS membership_value WHERE false"
    )
    engine.map_distinct(
        "_snap_json",
        values,
        ["membership_value"],
        lambda value: (canonical_json(_MEMBERSHIP_TEXT, pl.Series([value], dtype=pl.String))[0],),
        ["value_json"],
    )


def _build_destination(
    engine: Engine,
    destination: DestinationConfig,
    snapshot_date: dt.date,
    has_members: bool,
    has_campaign_attrs: bool,
    report: SnapshotReport,
) -> None:
    name = destination.name
    engine.register(
        "_snap_run",
        pa.table(
            [pa.array([snapshot_date], pa.date32()), pa.array([name], pa.string())],
            names=["snapshot_date", "destination"],
        ),
    )
    engine.register("_snap_catalog", _catalog(destination))
    views = ["_snap_run", "_snap_catalog", "_snap_values", "_snap_billable", "_snap_json"]
    temps = ["_snap_ids", "_snap_rows"]
    try:
        _value_texts(engine, destination)
        _billable_and_json(engine, has_members, has_campaign_attrs)
        engine.create_temp(
            "_snap_ids",
            f"SELECT customer_id, identifier FROM {ATTRIBUTES_TABLE} WHERE destination = "
            "(SELECT destination FROM _snap_run) AND identifier IS NOT NULL",
        )
        intended = _intended_sql(has_members, has_campaign_attrs)
        members = (
            f"""SELECT DISTINCT b.identifier FROM {MEMBERS_TABLE} m
                JOIN _snap_ids b ON b.customer_id = m.customer_id
                WHERE m.destination = (SELECT destination FROM _snap_run) AND m.member_group = 'treatment'"""
            if has_members
            else "SELECT CAST(NULL AS VARCHAR) AS identifier WHERE false"
        )
        engine.create_temp(
            "_snap_rows",
            f"""SELECT i.identifier, i.attribute, i.element, i.kind, i.attr_type, i.billable,
                       i.value_json, i.priority
                FROM ({intended}) i
                WHERE NOT i.campaign_scope OR i.identifier IN ({members})""",
        )
        kinds = engine.fetch(
            """SELECT attribute, min(kind), max(kind) FROM _snap_rows
               GROUP BY attribute HAVING min(kind) <> max(kind) ORDER BY attribute LIMIT 1"""
        )
        if kinds:
            both = f"{kinds[0][1]}, {kinds[0][2]}"
            raise ValueError(
                f"destination {name!r}: attribute {kinds[0][0]!r} is used both as {both}; "
                "an audience membership attribute must not also be a mapped or campaign attribute"
            )
        # A profile deleted on a privacy request is never sent again.
        suppressed = (
            f"WHERE identifier NOT IN ({suppressed_identifiers_sql('(SELECT destination FROM _snap_run)')})"
            if engine.table_exists(DELETIONS)
            else ""
        )
        this_day = (
            "snapshot_date = (SELECT snapshot_date FROM _snap_run) "
            "AND destination = (SELECT destination FROM _snap_run)"
        )
        # Mapped values and memberships cannot collide (distinct attribute names, one row per
        # identifier); a campaign attribute yields to them, and to the alphabetically first campaign.
        with engine.atomic():
            engine.replace_rows(
                SNAPSHOTS,
                this_day,
                f"""WITH campaign AS (
                    SELECT c.*, row_number() OVER (
                        PARTITION BY c.identifier, c.attribute ORDER BY c.priority) AS rank
                    FROM _snap_rows c
                    WHERE c.priority >= 2 AND NOT EXISTS (
                        SELECT 1 FROM _snap_rows o WHERE o.priority < 2 AND o.identifier = c.identifier
                          AND o.attribute = c.attribute AND o.element = c.element)
                ), chosen AS (
                    SELECT {_ROW_COLUMNS} FROM _snap_rows WHERE priority < 2
                    UNION ALL SELECT {_ROW_COLUMNS} FROM campaign WHERE rank = 1
                )
                SELECT r.snapshot_date, r.destination, identifier, attribute, element, {KEY_ID_SQL},
                       kind, attr_type, billable, value_json, {VALUE_HASH_SQL}
                FROM chosen, _snap_run r {suppressed}""",
            )
        # One pass over _snap_rows and one over the day's rows, not one query of scalar
        # subqueries: Spark runs those as concurrent jobs, and at 4M records (local[2], 4 GB) the
        # distinct count's hash aggregate failed with AGGREGATE_OUT_OF_MEMORY in one of two runs
        # while they competed for the executors' memory (benchmarks/README.md, "Engines", round 9).
        ids, memberships, claimed = engine.fetch(
            f"""SELECT count(DISTINCT identifier), count(*) FILTER (WHERE kind <> '{KIND_VALUE}'),
                       count(*) FROM _snap_rows"""
        )[0]
        rows = engine.fetch(f"SELECT count(*) FROM {SNAPSHOTS} WHERE {this_day}")[0][0]
        report.rows[name], report.identifiers[name] = int(rows), int(ids)
        report.memberships[name] = int(memberships)
        # Rows a privacy deletion suppressed count here too, as they did before.
        report.conflicts[name] = int(claimed - rows)
        if has_members:
            report.members_without_identifier[name] = int(
                engine.fetch(
                    f"""SELECT count(DISTINCT m.customer_id) FROM {MEMBERS_TABLE} m
                        WHERE m.destination = (SELECT destination FROM _snap_run)
                          AND m.member_group = 'treatment'
                          AND NOT EXISTS (SELECT 1 FROM _snap_ids b WHERE b.customer_id = m.customer_id)"""
                )[0][0]
            )
    finally:
        for table in temps:
            engine.drop_temp(table)
        for view in views:
            engine.unregister(view)


def prune_snapshots(con, today: dt.date, retention_days: int) -> int:
    """Delete snapshot days older than `retention_days` before `today`; return the rows deleted."""
    engine = as_engine(con)
    cutoff = today - dt.timedelta(days=retention_days)
    engine.register("_snap_cutoff", pa.table({"cutoff": pa.array([cutoff], pa.date32())}))
    try:
        old = "snapshot_date <= (SELECT cutoff FROM _snap_cutoff)"
        pruned = int(engine.fetch(f"SELECT count(*) FROM {SNAPSHOTS} WHERE {old}")[0][0])
        if pruned:
            engine.replace_rows(SNAPSHOTS, old, f"SELECT * FROM {SNAPSHOTS} WHERE false")
    finally:
        engine.unregister("_snap_cutoff")
    return pruned
