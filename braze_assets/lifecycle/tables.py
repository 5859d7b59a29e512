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

from braze_assets.warehouse import create_tables

PROFILE_KEYS = "braze_profile_keys"
MERGES = "braze_profile_merges"
DELETIONS = "braze_profile_deletions"
EVENT_LOG = "braze_event_log"
ALIASES = "braze_profile_aliases"

# Columns are NOT NULL unless marked NULL (warehouse.create_tables).
_TABLES = {
    PROFILE_KEYS: "destination VARCHAR, customer_id VARCHAR, identifier VARCHAR, "
    "first_seen_at TIMESTAMP, last_seen_at TIMESTAMP",
    MERGES: "destination VARCHAR, run_id VARCHAR, retired_customer_id VARCHAR, "
    "surviving_customer_id VARCHAR, merge_identifier VARCHAR, keep_identifier VARCHAR, "
    "mode VARCHAR, status VARCHAR, message VARCHAR NULL, attributes_moved INTEGER, "
    "recorded_at TIMESTAMP",
    DELETIONS: "destination VARCHAR, run_id VARCHAR, customer_id VARCHAR, identifier VARCHAR, "
    "reason VARCHAR, status VARCHAR, message VARCHAR NULL, recorded_at TIMESTAMP",
    ALIASES: "destination VARCHAR, customer_id VARCHAR, alias_name VARCHAR, alias_label VARCHAR, "
    "status VARCHAR, external_id VARCHAR NULL, created_at TIMESTAMP, identified_at TIMESTAMP NULL",
    EVENT_LOG: "destination VARCHAR, event_key VARCHAR, identifier VARCHAR, name VARCHAR, "
    "event_time TIMESTAMP, data_points INTEGER, status VARCHAR, reason VARCHAR NULL, "
    "run_id VARCHAR, sent_at TIMESTAMP",
}
# Added after the table first shipped: older warehouses get it from create_tables.
_ADDED = {EVENT_LOG: "first_rejected_at TIMESTAMP"}


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
    create_tables(con, _TABLES, _ADDED)
