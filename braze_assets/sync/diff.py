"""Intended (the day's snapshot) vs confirmed (what Braze accepted): the values a run must send.

Written once against the Engine. Pass 1 joins only (key id, value hash) of both sides --
fixed-width numbers, so the FULL OUTER JOIN of tens of millions of rows stays within a few GB --
and keeps the keys whose hashes differ. Pass 2 fetches the full rows of those few keys (a semi
join on the key id) and filters them type-aware: equal text (the value hash, 64 bits of the
text's MD5, only pre-filters: correctness never depends on it),
floats within the tolerance, and removals of attributes whose mapping says `nulls: skip` (Braze
keeps its value, so confirmed state keeps it too). Decimal scale and timestamp spelling are
already canonical in the snapshot text.

ops: add / change / remove (send null) for values; join / leave for memberships (boolean: true /
false; array: {"add": [..]} / {"remove": [..]}).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from braze_assets.engine.duckdb_engine import DuckDBEngine, as_engine
from braze_assets.lifecycle.tables import DELETIONS
from braze_assets.sync.tables import CONFIRMED, KIND_VALUE, REJECTIONS, SNAPSHOTS

CHANGES = "_sync_changes"
# Per identifier, when the consent authority last changed the customer's record (lifecycle.consent).
CONSENT_TIMES = "consent_authority_times"
# Braze documents no error text for "this profile does not exist"; these cover the sandbox's
# `_update_existing_only` message and the wording seen for unknown braze_ids.
UNKNOWN_USER_SQL = "regexp_matches(lower(coalesce(reason, '')), 'no existing user|does not exist')"
_TEMP = ("_sync_keys", "_sync_diff", "_sync_wanted", "_sync_sendable")


@dataclass
class DiffCounts:
    adds: int = 0
    changes: int = 0
    removes: int = 0
    joins: int = 0
    leaves: int = 0
    held_back: int = 0
    deferred: int = 0
    retried_unknown: int = 0
    values: int = 0
    objects: int = 0
    forecast_data_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def latest_snapshot_date(con, destination: str) -> dt.date | None:
    return as_engine(con).fetch(
        f"SELECT max(snapshot_date) FROM {SNAPSHOTS} WHERE destination = ?", [destination]
    )[0][0]


def compute_changes(
    con,
    destination: str,
    snapshot_date: dt.date,
    *,
    clear_attributes: Iterable[str],
    float_tolerance: float = 0.0,
    full_resync: bool = False,
    max_objects: int | None = None,
    memory_limit: str | None = None,
    retry_unknown_every_days: float | None = None,
    retry_unknown_for_days: float = 30,
    now: dt.datetime | None = None,
) -> DiffCounts:
    """Write the temp table `_sync_changes` (one row per value to send, ordered by object) on the
    engine (`con`: an Engine, or a DuckDB connection, which is wrapped); read it with
    `engine.read_arrow`: only the changes come to the driver.

    `memory_limit` caps DuckDB while diffing (DuckDB spills to disk beyond it) and is restored after.
    A value rejected because its profile did not exist is sent again once `retry_unknown_every_days`
    passed since its last rejection, during `retry_unknown_for_days` after the first one.
    """
    engine = as_engine(con)
    present = engine.fetch(
        f"SELECT count(*) FROM (SELECT 1 FROM {SNAPSHOTS} WHERE snapshot_date = ? AND destination = ? LIMIT 1) p",
        [snapshot_date, destination],
    )[0][0]
    if not present:
        # Diffing a missing day against confirmed state would clear every profile.
        raise ValueError(
            f"attribute_snapshots has no rows for destination {destination!r} on {snapshot_date}: "
            "materialise that day's snapshot before syncing it"
        )
    retry = None
    if retry_unknown_every_days is not None:
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        retry = (
            now - dt.timedelta(days=retry_unknown_every_days),
            now - dt.timedelta(days=retry_unknown_for_days),
        )
    # The run's values, bound as a one-row table (the SQL text holds no values).
    engine.register(
        RUN,
        pa.table(
            [
                pa.array([snapshot_date], pa.date32()),
                pa.array([destination], pa.string()),
                pa.array([float(float_tolerance)], pa.float64()),
                pa.array([retry[0] if retry else None], pa.timestamp("us")),
                pa.array([retry[1] if retry else None], pa.timestamp("us")),
            ],
            names=["snapshot_date", "destination", "tolerance", "retry_before", "retry_since"],
        ),
    )
    engine.register(
        "_sync_clear",
        pa.table({"attribute": pa.array(sorted(set(clear_attributes)), pa.string())}),
    )
    try:
        with _memory_limit(engine, memory_limit), engine.atomic():
            _diff(engine, full_resync)
            _select(engine, full_resync, max_objects, retry is not None)
            counts = _count(engine, destination)
            for table in _TEMP:
                engine.drop_temp(table)
    finally:
        engine.unregister(RUN)
        engine.unregister("_sync_clear")
    return counts


@contextmanager
def _memory_limit(engine, memory_limit: str | None) -> Iterator[None]:
    """DuckDB's memory cap while diffing (Spark's memory is the session's configuration)."""
    if not isinstance(engine, DuckDBEngine):
        yield
        return
    con = engine.con
    previous = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{previous}'")


RUN = "_sync_run"
_DAY = f"snapshot_date = (SELECT snapshot_date FROM {RUN})"
_DESTINATION = f"destination = (SELECT destination FROM {RUN})"


def _forgotten(engine) -> str:
    """The day's profiles deleted since the day began: the lifecycle, which runs before the diff,
    forgets a deleted profile's snapshot rows in the warehouse file, but in Spark mode the diff
    reads the snapshot at the table location (it sends nothing of them until the next day's
    snapshot, which a privacy deletion keeps out for good)."""
    if not engine.table_exists(DELETIONS):
        return ""
    return f"""AND identifier NOT IN (SELECT identifier FROM {DELETIONS} WHERE {_DESTINATION}
        AND status = 'deleted'
        AND recorded_at >= CAST((SELECT snapshot_date FROM {RUN}) AS TIMESTAMP))"""


def _diff(engine, full_resync: bool) -> None:
    resend = "OR i.key_id IS NOT NULL" if full_resync else ""
    intended = f"FROM {SNAPSHOTS} WHERE {_DAY} AND {_DESTINATION} {_forgotten(engine)}"
    engine.create_temp(
        "_sync_keys",
        f"""SELECT i.key_id AS i_key, c.key_id AS c_key, i.value_hash = c.value_hash AS same_hash
        FROM (SELECT key_id, value_hash {intended}) i
        FULL OUTER JOIN (SELECT key_id, value_hash FROM {CONFIRMED} WHERE {_DESTINATION}) c
          ON i.key_id = c.key_id
        WHERE i.value_hash IS DISTINCT FROM c.value_hash {resend}""",
    )
    engine.create_temp(
        "_sync_diff",
        f"""WITH i AS (
            SELECT key_id, identifier, attribute, element, kind, attr_type, billable, value_json,
                   value_hash
            {intended}
              AND key_id IN (SELECT i_key FROM _sync_keys WHERE i_key IS NOT NULL)
        ), c AS (
            SELECT key_id, identifier, attribute, element, kind, billable, value_json, confirmed_at
            FROM {CONFIRMED} WHERE {_DESTINATION}
              AND key_id IN (SELECT c_key FROM _sync_keys WHERE c_key IS NOT NULL)
        )
        SELECT coalesce(i.key_id, c.key_id) AS key_id,
               coalesce(i.identifier, c.identifier) AS identifier,
               coalesce(i.attribute, c.attribute) AS attribute,
               coalesce(i.element, c.element) AS element,
               coalesce(i.kind, c.kind) AS kind,
               coalesce(i.billable, c.billable) AS billable,
               i.attr_type,
               CASE WHEN k.i_key IS NULL THEN (CASE WHEN c.kind = '{KIND_VALUE}' THEN 'remove' ELSE 'leave' END)
                    WHEN k.c_key IS NULL OR coalesce(k.same_hash, false)
                        THEN (CASE WHEN i.kind = '{KIND_VALUE}' THEN 'add' ELSE 'join' END)
                    ELSE 'change' END AS op,
               i.value_json, i.value_hash, c.value_json AS old_json, c.confirmed_at AS old_confirmed_at
        FROM _sync_keys k LEFT JOIN i ON i.key_id = k.i_key LEFT JOIN c ON c.key_id = k.c_key""",
    )
    unchanged = (
        "false"
        if full_resync
        else (
            "d.value_json = d.old_json OR (d.attr_type = 'float' AND "
            "abs(TRY_CAST(d.value_json AS DOUBLE) - TRY_CAST(d.old_json AS DOUBLE)) "
            f"<= (SELECT tolerance FROM {RUN}))"
        )
    )
    engine.create_temp(
        "_sync_wanted",
        f"""SELECT d.* FROM _sync_diff d
        WHERE NOT (d.op = 'change' AND ({unchanged}))
          AND NOT (d.op = 'remove' AND d.attribute NOT IN (SELECT attribute FROM _sync_clear))""",
    )


def _select(engine, full_resync: bool, max_objects: int | None, retry: bool = False) -> None:
    # A value Braze rejected is held back until its intended value (hash) changes -- except an
    # unknown user's, retried on the back-off schedule (the profile may have been created since).
    due = (
        f"""AND NOT ({UNKNOWN_USER_SQL} AND rejected_at <= (SELECT retry_before FROM {RUN})
                 AND coalesce(first_rejected_at, rejected_at) >= (SELECT retry_since FROM {RUN}))"""
        if retry
        else ""
    )
    hold_back = (
        ""
        if full_resync
        else f"""
        ANTI JOIN (SELECT key_id, value_hash FROM {REJECTIONS} WHERE {_DESTINATION} {due}) r
          ON r.key_id = d.key_id AND r.value_hash IS NOT DISTINCT FROM d.value_hash"""
    )
    # An unsubscribe Braze confirmed is never overwritten by a subscribe the consent authority
    # recorded before it (only by a newer one): counted as held back.
    consent = ""
    if engine.table_exists(CONSENT_TIMES):
        consent = f"""WHERE NOT (d.attribute IN ('email_subscribe', 'push_subscribe') AND d.op = 'change'
              AND d.old_json = '"unsubscribed"' AND d.value_json IN ('"opted_in"', '"subscribed"')
              AND NOT EXISTS (SELECT 1 FROM {CONSENT_TIMES} t WHERE t.{_DESTINATION}
                              AND t.identifier = d.identifier AND t.updated_at > d.old_confirmed_at))"""
    engine.create_temp(
        "_sync_sendable",
        f"""SELECT d.*, dense_rank() OVER (ORDER BY d.identifier) - 1 AS obj_idx FROM _sync_wanted d {hold_back}
        {consent}""",
    )
    limit = "" if max_objects is None else f"WHERE obj_idx < {int(max_objects)}"
    engine.create_temp(
        CHANGES,
        f"""SELECT obj_idx, identifier, attribute, element, kind, billable, op, value_json, value_hash
        FROM _sync_sendable {limit}
        ORDER BY obj_idx, attribute, element""",
    )


def _count(engine, destination: str) -> DiffCounts:
    counts = DiffCounts()
    row = engine.fetch(
        f"""SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'change'),
                   count(*) FILTER (WHERE op = 'remove'), count(*) FILTER (WHERE op = 'join'),
                   count(*) FILTER (WHERE op = 'leave'), count(*), count(DISTINCT obj_idx),
                   coalesce(sum(CAST(billable AS INTEGER)), 0)
            FROM {CHANGES}"""
    )[0]
    (
        counts.adds,
        counts.changes,
        counts.removes,
        counts.joins,
        counts.leaves,
        counts.values,
        counts.objects,
        counts.forecast_data_points,
    ) = (int(v) for v in row)
    wanted, sendable = engine.fetch(
        "SELECT (SELECT count(*) FROM _sync_wanted), (SELECT count(*) FROM _sync_sendable)"
    )[0]
    counts.held_back = int(wanted - sendable)
    counts.retried_unknown = int(
        engine.fetch(
            f"""SELECT count(*) FROM {CHANGES} c JOIN {REJECTIONS} r
                ON r.identifier = c.identifier AND r.attribute = c.attribute AND r.element = c.element
               AND r.value_hash IS NOT DISTINCT FROM c.value_hash
                WHERE r.destination = ? AND {UNKNOWN_USER_SQL.replace("reason", "r.reason")}""",
            [destination],
        )[0][0]
    )
    counts.deferred = int(sendable - counts.values)
    return counts
