"""DuckDB tables of the sync: intended snapshots, confirmed state, results, rejections, runs.

A value's key is (identifier, attribute, element); `element` is '' for every kind except
`membership_array` (where it is the array value). `key_id` is the 128-bit MD5 of that key
(KEY_ID_SQL): the diff joins tens of millions of rows, and a join on one fixed-width integer
needs a fraction of the memory and time of a join on three strings. MD5 is stable across DuckDB
versions (unlike `hash`), and a 128-bit collision among even 10^9 keys has a probability below
10^-20, so `key_id` is treated as the key itself.
"""

from __future__ import annotations

import duckdb

from braze_assets import tables
from braze_assets.warehouse import create_tables

SNAPSHOTS = tables.ATTRIBUTE_SNAPSHOTS
CONFIRMED = "braze_confirmed_state"
RESULTS = "braze_sync_results"
REJECTIONS = "braze_sync_rejections"
RUNS = "braze_sync_runs"

KEY_ID_SQL = "md5_number(identifier || chr(31) || attribute || chr(31) || element)"
# The value's 64-bit hash (a pre-filter of the diff: equal text is what decides).
VALUE_HASH_SQL = "hash(value_json)"

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


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    create_tables(con, _TABLES, _ADDED)
