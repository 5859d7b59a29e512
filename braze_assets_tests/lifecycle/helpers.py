"""Shared set-up of the lifecycle tests: a real identity registry (clustering on hand-made match
scores), braze_customer_attributes keyed on the customer id, snapshots and syncs to the sandbox."""

from __future__ import annotations

import datetime as dt

from braze_assets.config.sources import SourceConfig
from braze_assets.identity.cluster import cluster_and_assign_ids
from braze_assets.identity.config import IdentityConfig
from braze_assets.lifecycle.config import DeletionConfig
from braze_assets.lifecycle.profiles import run_lifecycle
from braze_assets.sync.config import ResolvedSyncSettings
from braze_assets.sync.runner import sync_destination
from braze_assets.sync.snapshots import build_snapshot
from braze_assets_tests.sync.conftest import destination_config, put_attribute_rows, put_member_rows

IDENTITY = IdentityConfig(match_threshold=0.9)


def email_list(opt_in: str) -> SourceConfig:
    """A consent authority: an email list carrying its `opt_in` column as an attribute."""
    return SourceConfig(
        name="email_list",
        path="email_list.csv",
        primary_key="subscriber_id",
        updated_at="updated_at",
        columns={"email": "email", opt_in: "attribute"},
    )


def identity_run(con, records: list[str], edges: list[tuple[str, str]], run: str, now) -> dict:
    """records: 's:<pk>' record ids of one source; edges: pairs that match. -> record -> customer."""
    con.execute(
        "CREATE OR REPLACE TABLE unified_standardised (record_id VARCHAR, source VARCHAR, "
        "source_pk VARCHAR, external_id VARCHAR)"
    )
    con.executemany(
        "INSERT INTO unified_standardised VALUES (?, ?, ?, NULL)",
        [(r, r.split(":")[0], r.split(":")[1]) for r in records],
    )
    con.execute(
        "CREATE OR REPLACE TABLE unified_scores (record_id_l VARCHAR, record_id_r VARCHAR, "
        "match_probability DOUBLE, match_weight DOUBLE)"
    )
    if edges:
        con.executemany(
            "INSERT INTO unified_scores VALUES (?, ?, 0.99, NULL)",
            [tuple(sorted(e)) for e in edges],
        )
    cluster_and_assign_ids(con, IDENTITY, run_id=run, now=now)
    return dict(con.execute("SELECT record_id, customer_id FROM unified_coalesced").fetchall())


def put_attributes(
    con, rows: dict[str, tuple], destination="braze_us", identifiers: dict | None = None
) -> None:
    """customer_id -> (tier, ltv, score); the Braze external_id is the customer id unless
    `identifiers` maps the customer to another."""
    identifiers = identifiers or {}
    put_attribute_rows(
        con,
        [
            (cid, identifiers.get(cid, cid), identifiers.get(cid, cid), *values)
            for cid, values in rows.items()
        ],
        destination,
    )


def put_members(con, rows: list[tuple[str, str, str, str | None]], destination="braze_us"):
    """rows: (customer_id, mode, attribute, value) treatment members."""
    put_member_rows(
        con, [("spring", cid, "treatment", *membership) for cid, *membership in rows], destination
    )


def lifecycle(
    con, client, *, mode="merge", deletions=None, dry_run=False, now=None, run="lc", **options
):
    """run_lifecycle for braze_us keyed by external_id; `options` (aliases, consent_source,
    subscription_groups) go to it as they are."""
    return run_lifecycle(
        con,
        client,
        destination="braze_us",
        identifier_type="external_id",
        merge_mode=mode,
        deletions=deletions or DeletionConfig(),
        run_id=run,
        dry_run=dry_run,
        now=now,
        **options,
    )


def snapshot_and_sync(con, client, tmp_path, day: dt.date, **settings):
    destination = destination_config()
    build_snapshot(con, [destination], day)
    return sync_destination(
        con,
        client,
        destination="braze_us",
        identifier_type="external_id",
        clear_attributes=[m.name for m in destination.attributes if m.nulls == "clear"],
        settings=ResolvedSyncSettings(destination="braze_us", **settings),
        journal_root=tmp_path / "journal",
        snapshot_date=day,
    )
