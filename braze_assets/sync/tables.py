"""DuckDB tables of the sync: intended snapshots, confirmed state, results, rejections, runs.

A value's key is (identifier, attribute, element); `element` is '' for every kind except
`membership_array` (where it is the array value). `key_id` is the first 124 bits of that key's
MD5 (KEY_ID_SQL): the diff joins tens of millions of rows, and a join on one fixed-width integer
needs a fraction of the memory and time of a join on three strings. A 124-bit collision among
even 10^9 keys has a probability below 10^-19, so `key_id` is treated as the key itself.
`value_hash` is the first 64 bits of the value text's MD5 (a pre-filter of the diff: equal text is
what decides).

Both are spelled so that DuckDB and Spark compute the same numbers (the Spark engine reads the
'0x' hex casts with conv()): 124 bits because Spark's widest integer is DECIMAL(38,0). Switching
engines therefore resends nothing. Warehouses written before this format (DuckDB's md5_number and
hash) are converted once by ensure_tables (migrate_key_format).
"""

from __future__ import annotations

import duckdb

from braze_assets import tables
from braze_assets.warehouse import create_tables, table_exists, transaction

SNAPSHOTS = tables.ATTRIBUTE_SNAPSHOTS
CONFIRMED = "braze_confirmed_state"
RESULTS = "braze_sync_results"
REJECTIONS = "braze_sync_rejections"
RUNS = "braze_sync_runs"


def _hex_number(text: str, start: int, length: int) -> str:
    """Up to 16 hex digits of `text` as an unsigned 64-bit number (DuckDB reads '0x' text)."""
    return f"CAST(('0x' || substr({text}, {start}, {length})) AS UBIGINT)"


def key_id_sql(
    identifier: str = "identifier", attribute: str = "attribute", element: str = "element"
) -> str:
    """The key id of the key the three SQL expressions give: MD5's first 31 hex digits, as
    60 high bits times 2^64 plus 64 low bits."""
    md5 = f"md5({identifier} || chr(31) || {attribute} || chr(31) || {element})"
    return (
        f"(CAST({_hex_number(md5, 1, 15)} AS UHUGEINT) * CAST('18446744073709551616' AS UHUGEINT) "
        f"+ {_hex_number(md5, 16, 16)})"
    )


KEY_ID_SQL = key_id_sql()
VALUE_HASH_SQL = _hex_number("md5(value_json)", 1, 16)

KIND_VALUE = "value"
KIND_MEMBERSHIP_BOOL = "membership_bool"
KIND_MEMBERSHIP_ARRAY = "membership_array"

# Columns are NOT NULL unless marked NULL (warehouse.create_tables).
_TABLES = {
    SNAPSHOTS: "snapshot_date DATE, destination VARCHAR, identifier VARCHAR, attribute VARCHAR, "
    "element VARCHAR, key_id UHUGEINT, kind VARCHAR, attr_type VARCHAR, billable BOOLEAN, "
    "value_json VARCHAR, value_hash UBIGINT",
    CONFIRMED: "destination VARCHAR, identifier VARCHAR, attribute VARCHAR, element VARCHAR, "
    "key_id UHUGEINT, kind VARCHAR, billable BOOLEAN, value_json VARCHAR, value_hash UBIGINT, "
    "confirmed_at TIMESTAMP, run_id VARCHAR",
    REJECTIONS: "destination VARCHAR, identifier VARCHAR, attribute VARCHAR, element VARCHAR, "
    "key_id UHUGEINT, op VARCHAR, value_json VARCHAR NULL, value_hash UBIGINT NULL, "
    "reason VARCHAR NULL, run_id VARCHAR, rejected_at TIMESTAMP",
    RESULTS: "run_id VARCHAR, destination VARCHAR, batch_no INTEGER, object_index INTEGER, "
    "identifier VARCHAR, attributes VARCHAR[], data_points INTEGER, status VARCHAR, "
    "reason VARCHAR NULL, http_status INTEGER NULL, attempts INTEGER, elapsed_ms DOUBLE, "
    "sent_at TIMESTAMP",
    RUNS: "run_id VARCHAR, destination VARCHAR, snapshot_date DATE NULL, status VARCHAR, "
    "full_resync BOOLEAN, started_at TIMESTAMP, finished_at TIMESTAMP NULL, duration_s DOUBLE NULL, "
    "objects_planned BIGINT, values_planned BIGINT, adds BIGINT, changes BIGINT, removes BIGINT, "
    "joins BIGINT, leaves BIGINT, held_back BIGINT, deferred BIGINT, forecast_data_points BIGINT, "
    "objects_delivered BIGINT NULL, objects_rejected BIGINT NULL, "
    "objects_not_delivered BIGINT NULL, objects_unsent BIGINT NULL, data_points_spent BIGINT NULL, "
    "batches BIGINT NULL, message VARCHAR NULL, folded BOOLEAN",
}
SNAPSHOT_COLUMNS = _TABLES[SNAPSHOTS]
# Added for the unknown-user retry window; older warehouses get the column from create_tables.
_ADDED = {REJECTIONS: "first_rejected_at TIMESTAMP"}


# The key id and value hash format of the sync tables (one row): 2 is MD5 on both engines.
FORMAT = "braze_sync_format"
KEY_FORMAT = 2


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    create_tables(con, _TABLES, _ADDED)
    migrate_key_format(con)


def migrate_key_format(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute the key ids and value hashes written before KEY_FORMAT (DuckDB's md5_number and
    hash) from the rows' own columns, once, in one transaction: without it no confirmed key would
    match a new snapshot's and every value would be sent again. A journal of an earlier run folded
    later keeps its old value hashes in confirmed state: those values are compared by their text,
    so they are not resent either."""
    create_tables(con, {FORMAT: "key_format INTEGER"})
    if (
        con.execute(f"SELECT coalesce(max(key_format), 0) FROM {FORMAT}").fetchone()[0]
        >= KEY_FORMAT
    ):
        return
    with transaction(con):
        for table in (CONFIRMED, REJECTIONS, SNAPSHOTS):
            if table_exists(con, table):
                con.execute(
                    f"UPDATE {table} SET key_id = {KEY_ID_SQL}, value_hash = {VALUE_HASH_SQL}"
                )
        con.execute(f"DELETE FROM {FORMAT}")
        con.execute(f"INSERT INTO {FORMAT} VALUES ({KEY_FORMAT})")
