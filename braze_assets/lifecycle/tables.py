"""DuckDB tables of the profile lifecycle.

- braze_profile_keys: every (destination, customer id, Braze identifier) the project has seen,
  kept after the customer is retired, so a merge or a deletion still knows the retired profile.
- braze_profile_merges: every merge identity made that concerned an existing Braze profile, with
  its Braze outcome (merged / left_and_cleared / failed / planned in a dry run).
- braze_profile_deletions: every profile deleted (or refused) with its reason; rows with reason
  privacy_request keep the identifier so that the profile is never sent again.
- braze_profile_aliases: alias profiles created for customers without an external id
  (status created), and identified once the customer got one (status identified).
- braze_event_log: every event (orders) by its stable key; status confirmed means Braze accepted
  it, in_flight means a run sent it but did not live to see the answer (the next run reads it
  back), unknown_user means Braze had no such profile (retried on the back-off schedule from
  first_rejected_at).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

PROFILE_KEYS = "braze_profile_keys"
MERGES = "braze_profile_merges"
DELETIONS = "braze_profile_deletions"
EVENT_LOG = "braze_event_log"
ALIASES = "braze_profile_aliases"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {PROFILE_KEYS} (
    destination VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {MERGES} (
    destination VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    retired_customer_id VARCHAR NOT NULL,
    surviving_customer_id VARCHAR NOT NULL,
    merge_identifier VARCHAR NOT NULL,
    keep_identifier VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    message VARCHAR,
    attributes_moved INTEGER NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {DELETIONS} (
    destination VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    message VARCHAR,
    recorded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS {ALIASES} (
    destination VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    alias_name VARCHAR NOT NULL,
    alias_label VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    external_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    identified_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS {EVENT_LOG} (
    destination VARCHAR NOT NULL,
    event_key VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    event_time TIMESTAMP NOT NULL,
    data_points INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    reason VARCHAR,
    run_id VARCHAR NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
"""


def now_utc() -> dt.datetime:
    """Naive UTC, as every lifecycle table stores its times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def counters(report, prefix: str) -> dict[str, int]:
    """A report dataclass's integer fields as run metadata: prefix + field name."""
    return {
        prefix + f.name: value
        for f in dataclasses.fields(report)
        if type(value := getattr(report, f.name)) is int
    }


def ensure_lifecycle_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
    # Added after the table first shipped: older warehouses get it here.
    con.execute(f"ALTER TABLE {EVENT_LOG} ADD COLUMN IF NOT EXISTS first_rejected_at TIMESTAMP")
