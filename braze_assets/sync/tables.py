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

SNAPSHOTS = tables.ATTRIBUTE_SNAPSHOTS
CONFIRMED = "braze_confirmed_state"
RESULTS = "braze_sync_results"
REJECTIONS = "braze_sync_rejections"
RUNS = "braze_sync_runs"

KEY_ID_SQL = "md5_number(identifier || chr(31) || attribute || chr(31) || element)"

KIND_VALUE = "value"
KIND_MEMBERSHIP_BOOL = "membership_bool"
KIND_MEMBERSHIP_ARRAY = "membership_array"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {SNAPSHOTS} (
    snapshot_date DATE NOT NULL,
    destination VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL,
    element VARCHAR NOT NULL,
    key_id UHUGEINT NOT NULL,
    kind VARCHAR NOT NULL,
    attr_type VARCHAR NOT NULL,
    billable BOOLEAN NOT NULL,
    value_json VARCHAR NOT NULL,
    value_hash UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {CONFIRMED} (
    destination VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL,
    element VARCHAR NOT NULL,
    key_id UHUGEINT NOT NULL,
    kind VARCHAR NOT NULL,
    billable BOOLEAN NOT NULL,
    value_json VARCHAR NOT NULL,
    value_hash UBIGINT NOT NULL,
    confirmed_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS {REJECTIONS} (
    destination VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL,
    element VARCHAR NOT NULL,
    key_id UHUGEINT NOT NULL,
    op VARCHAR NOT NULL,
    value_json VARCHAR,
    value_hash UBIGINT,
    reason VARCHAR,
    run_id VARCHAR NOT NULL,
    rejected_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {RESULTS} (
    run_id VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    batch_no INTEGER NOT NULL,
    object_index INTEGER NOT NULL,
    identifier VARCHAR NOT NULL,
    attributes VARCHAR[] NOT NULL,
    data_points INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    http_status INTEGER,
    attempts INTEGER NOT NULL,
    elapsed_ms DOUBLE NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {RUNS} (
    run_id VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    snapshot_date DATE,
    status VARCHAR NOT NULL,
    full_resync BOOLEAN NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    duration_s DOUBLE,
    objects_planned BIGINT NOT NULL,
    values_planned BIGINT NOT NULL,
    adds BIGINT NOT NULL,
    changes BIGINT NOT NULL,
    removes BIGINT NOT NULL,
    joins BIGINT NOT NULL,
    leaves BIGINT NOT NULL,
    held_back BIGINT NOT NULL,
    deferred BIGINT NOT NULL,
    forecast_data_points BIGINT NOT NULL,
    objects_delivered BIGINT,
    objects_rejected BIGINT,
    objects_not_delivered BIGINT,
    objects_unsent BIGINT,
    data_points_spent BIGINT,
    batches BIGINT,
    message VARCHAR,
    folded BOOLEAN NOT NULL
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
    # Added for the unknown-user retry window; older warehouses get the column on first use.
    con.execute(f"ALTER TABLE {REJECTIONS} ADD COLUMN IF NOT EXISTS first_rejected_at TIMESTAMP")
