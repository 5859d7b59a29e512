"""Intended (today's snapshot) vs confirmed (what Braze accepted): the values a run must send.

A FULL OUTER JOIN on the 128-bit key id comparing 64-bit value hashes finds the keys that differ;
their full rows are then fetched and filtered type-aware: equal text (the hash function changed, e.g. after a
DuckDB upgrade: correctness never depends on it), floats within the tolerance, and removals of
attributes whose mapping says `nulls: skip` (Braze keeps its value, so confirmed state keeps it
too). Decimal scale and timestamp spelling are already canonical in the snapshot text.

ops: add / change / remove (send null) for values; join / leave for memberships (boolean: true /
false; array: {"add": [..]} / {"remove": [..]}).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from braze_assets.sync.tables import CONFIRMED, KIND_VALUE, REJECTIONS, SNAPSHOTS

CHANGES = "_sync_changes"
OPS = ("add", "change", "remove", "join", "leave")


@dataclass
class DiffCounts:
    adds: int = 0
    changes: int = 0
    removes: int = 0
    joins: int = 0
    leaves: int = 0
    held_back: int = 0
    deferred: int = 0
    values: int = 0
    objects: int = 0
    forecast_data_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def latest_snapshot_date(con: duckdb.DuckDBPyConnection, destination: str) -> dt.date | None:
    return con.execute(f"SELECT max(snapshot_date) FROM {SNAPSHOTS} WHERE destination = ?", [destination]).fetchone()[0]


def compute_changes(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    snapshot_date: dt.date,
    *,
    clear_attributes: Iterable[str],
    float_tolerance: float = 0.0,
    full_resync: bool = False,
    max_objects: int | None = None,
) -> DiffCounts:
    """Write the temp table `_sync_changes` (one row per value to send, ordered by identifier)."""
    present = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {SNAPSHOTS} WHERE snapshot_date = ? AND destination = ? LIMIT 1)",
        [snapshot_date, destination],
    ).fetchone()[0]
    if not present:
        # Diffing a missing day against confirmed state would clear every profile.
        raise ValueError(
            f"attribute_snapshots has no rows for destination {destination!r} on {snapshot_date}: "
            "materialise that day's snapshot before syncing it"
        )
    con.execute("CREATE OR REPLACE TEMP TABLE _sync_clear (attribute VARCHAR)")
    clear = sorted(set(clear_attributes))
    if clear:
        con.executemany("INSERT INTO _sync_clear VALUES (?)", [[a] for a in clear])
    resend = "OR i.key_id IS NOT NULL" if full_resync else ""
    params = {"day": snapshot_date, "destination": destination}
    # Pass 1: keys and hashes only (two fixed-width integers per row), so the big join stays small.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sync_keys AS
        SELECT coalesce(i.key_id, c.key_id) AS key_id, i.key_id IS NOT NULL AS intended,
               c.key_id IS NOT NULL AS confirmed, i.value_hash = c.value_hash AS same_hash
        FROM (SELECT key_id, value_hash FROM {SNAPSHOTS} WHERE snapshot_date = $day AND destination = $destination) i
        FULL OUTER JOIN (SELECT key_id, value_hash FROM {CONFIRMED} WHERE destination = $destination) c
          ON i.key_id = c.key_id
        WHERE i.value_hash IS DISTINCT FROM c.value_hash {resend}""",
        params,
    )
    # Pass 2: the full rows of the (few) keys that differ.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sync_diff AS
        WITH i AS (
            SELECT key_id, identifier, attribute, element, kind, attr_type, billable, value_json, value_hash
            FROM {SNAPSHOTS} WHERE snapshot_date = $day AND destination = $destination
              AND key_id IN (SELECT key_id FROM _sync_keys WHERE intended)
        ), c AS (
            SELECT key_id, identifier, attribute, element, kind, billable, value_json
            FROM {CONFIRMED} WHERE destination = $destination
              AND key_id IN (SELECT key_id FROM _sync_keys WHERE confirmed)
        )
        SELECT k.key_id,
               coalesce(i.identifier, c.identifier) AS identifier,
               coalesce(i.attribute, c.attribute) AS attribute,
               coalesce(i.element, c.element) AS element,
               coalesce(i.kind, c.kind) AS kind,
               coalesce(i.billable, c.billable) AS billable,
               i.attr_type,
               CASE WHEN NOT k.intended THEN (CASE WHEN c.kind = '{KIND_VALUE}' THEN 'remove' ELSE 'leave' END)
                    WHEN NOT k.confirmed OR coalesce(k.same_hash, false)
                        THEN (CASE WHEN i.kind = '{KIND_VALUE}' THEN 'add' ELSE 'join' END)
                    ELSE 'change' END AS op,
               i.value_json, i.value_hash, c.value_json AS old_json
        FROM _sync_keys k LEFT JOIN i ON i.key_id = k.key_id LEFT JOIN c ON c.key_id = k.key_id""",
        params,
    )
    hold_back = "" if full_resync else f"""
        AND NOT EXISTS (
            SELECT 1 FROM {REJECTIONS} r
            WHERE r.destination = $destination AND r.key_id = d.key_id
              AND r.value_hash IS NOT DISTINCT FROM d.value_hash)"""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sync_wanted AS
        SELECT d.* FROM _sync_diff d
        WHERE NOT (d.op = 'change' AND NOT {'true' if full_resync else 'false'} AND (
                  d.value_json = d.old_json
                  OR (d.attr_type = 'float'
                      AND abs(TRY_CAST(d.value_json AS DOUBLE) - TRY_CAST(d.old_json AS DOUBLE)) <= $tolerance)))
          AND NOT (d.op = 'remove' AND d.attribute NOT IN (SELECT attribute FROM _sync_clear))""",
        {"tolerance": float(float_tolerance)},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sync_sendable AS
        SELECT d.*, dense_rank() OVER (ORDER BY d.identifier) - 1 AS obj_idx
        FROM _sync_wanted d WHERE true {hold_back}""",
        {"destination": destination} if hold_back else {},
    )
    limit = "" if max_objects is None else f"WHERE obj_idx < {int(max_objects)}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {CHANGES} AS
        SELECT obj_idx, identifier, attribute, element, kind, billable, op, value_json, value_hash
        FROM _sync_sendable {limit}
        ORDER BY obj_idx, attribute, element"""
    )
    counts = DiffCounts()
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'change'),
                   count(*) FILTER (WHERE op = 'remove'), count(*) FILTER (WHERE op = 'join'),
                   count(*) FILTER (WHERE op = 'leave'), count(*), count(DISTINCT obj_idx),
                   coalesce(sum(billable::INTEGER), 0)
            FROM {CHANGES}"""
    ).fetchone()
    (counts.adds, counts.changes, counts.removes, counts.joins, counts.leaves,
     counts.values, counts.objects, counts.forecast_data_points) = (int(v) for v in row)
    wanted, sendable = con.execute(
        "SELECT (SELECT count(*) FROM _sync_wanted), (SELECT count(*) FROM _sync_sendable)"
    ).fetchone()
    counts.held_back = int(wanted - sendable)
    counts.deferred = int(sendable - counts.values)
    for table in ("_sync_keys", "_sync_diff", "_sync_wanted", "_sync_sendable", "_sync_clear"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return counts
