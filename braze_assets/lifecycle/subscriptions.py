"""Subscription groups from the consent authority to Braze (plain Python, no Dagster).

Off by default: only the groups listed in `sync.lifecycle.consent.subscription_groups`, and only
from the source declared as consent authority (config load refuses anything else). Per Braze
identifier and group, the state is that of the customer's latest authority record (its
`updated_at`) with a value in the group's column. It is sent when it differs from the state Braze
confirmed, in /users/track attribute objects (`subscription_groups`, not billable), and recorded
in braze_subscription_state with the authority's time. An unsubscribe is never overwritten by a
subscribe the authority recorded at or before the unsubscribe's own time (nor by one without a
time): that subscribe is held back and reported.

People also unsubscribe in Braze itself (its own unsubscribe links). For external ids, every
subscribe about to be sent is checked first with /users/export/ids: a group Braze holds
unsubscribed is left alone and recorded as an unsubscribe as of that read, so only an authority
record updated after the read subscribes the profile again. Alias profiles are not read back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.attributes.fields import ALIAS_KEY_PREFIX
from braze_assets.lifecycle.config import SubscriptionGroupConfig
from braze_assets.lifecycle.consent import updated_at_sql
from braze_assets.lifecycle.profiles import braze_head
from braze_assets.lifecycle.tables import counters, now_utc
from braze_assets.warehouse import (
    create_tables,
    quote,
    quote_literal,
    table_exists,
    transaction,
)

_LOG = logging.getLogger("braze_assets.lifecycle")
STATES = "braze_subscription_state"
_SUBSCRIBE = ("true", "t", "1", "yes", "y", "subscribed", "opted_in")
_UNSUBSCRIBE = ("false", "f", "0", "no", "n", "unsubscribed")

_COLUMNS = (
    "destination VARCHAR, identifier VARCHAR, group_id VARCHAR, state VARCHAR, "
    "source_time TIMESTAMP NULL, confirmed_at TIMESTAMP, run_id VARCHAR"
)


@dataclass
class SubscriptionReport:
    planned: int = 0
    sent: int = 0
    rejected: int = 0
    held_back: int = 0
    unreadable: int = 0

    def metadata(self) -> dict[str, int]:
        return counters(self, "subscription_groups_")


def _intended_sql(authority, groups: Sequence[SubscriptionGroupConfig]) -> str:
    """identifier, group_id, state, source_time, raw value: the latest authority record with a
    value per identifier and group."""
    updated = updated_at_sql(authority)
    parts = []
    for group in groups:
        text = f"lower(trim(CAST(r.{quote(group.column)} AS VARCHAR)))"
        parts.append(
            f"""SELECT a.identifier, {quote_literal(group.group_id)} AS group_id,
                   CASE WHEN {text} IN {_SUBSCRIBE} THEN 'subscribed'
                        WHEN {text} IN {_UNSUBSCRIBE} THEN 'unsubscribed' END AS state,
                   {updated} AS source_time, {text} AS raw
                FROM {quote(f"raw_{authority.name}")} r
                JOIN {tables.UNIFIED_COALESCED} u ON u.source = {quote_literal(authority.name)}
                     AND u.source_pk = CAST(r.{quote(authority.primary_key)} AS VARCHAR)
                JOIN {tables.BRAZE_CUSTOMER_ATTRIBUTES} a ON a.destination = $d
                     AND a.customer_id = u.customer_id
                WHERE a.identifier IS NOT NULL AND nullif({text}, '') IS NOT NULL"""
        )
    return " UNION ALL ".join(parts)


def plan_subscription_states(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    authority,
    groups: Sequence[SubscriptionGroupConfig],
    report: SubscriptionReport,
) -> pl.DataFrame:
    """identifier, group_id, state, source_time, confirmed_state of the states to send."""
    create_tables(con, {STATES: _COLUMNS})
    empty = pl.DataFrame(
        schema={
            "identifier": pl.String,
            "group_id": pl.String,
            "state": pl.String,
            "source_time": pl.Datetime("us"),
            "confirmed_state": pl.String,
        }
    )
    needed = (
        f"raw_{authority.name}",
        tables.UNIFIED_COALESCED,
        tables.BRAZE_CUSTOMER_ATTRIBUTES,
    )
    if not groups or not all(table_exists(con, t) for t in needed):
        return empty
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _lc_sub_values AS {_intended_sql(authority, groups)}",
        {"d": destination},
    )
    try:
        unreadable = con.execute(
            "SELECT count(*), any_value(raw) FROM _lc_sub_values WHERE state IS NULL"
        ).fetchone()
        report.unreadable = int(unreadable[0])
        if report.unreadable:
            _LOG.warning(
                "subscription groups %s: %d values of source %r are neither subscribe nor "
                "unsubscribe (e.g. %r) and are left alone",
                destination,
                report.unreadable,
                authority.name,
                unreadable[1],
            )
        wanted = con.execute(
            f"""WITH latest AS (
                    SELECT identifier, group_id, state, source_time FROM _lc_sub_values
                    WHERE state IS NOT NULL
                    QUALIFY row_number() OVER (PARTITION BY identifier, group_id
                                               ORDER BY source_time DESC NULLS LAST, state) = 1
                )
                SELECT l.*, c.state AS confirmed_state, c.source_time AS confirmed_time
                FROM latest l LEFT JOIN {STATES} c ON c.destination = $d
                     AND c.identifier = l.identifier AND c.group_id = l.group_id
                WHERE c.state IS DISTINCT FROM l.state
                ORDER BY l.identifier, l.group_id""",
            {"d": destination},
        ).pl()
    finally:
        con.execute("DROP TABLE IF EXISTS _lc_sub_values")
    # An unsubscribe stays unless the authority's subscribe is newer than it.
    older = (
        (pl.col("confirmed_state") == "unsubscribed")
        & (pl.col("state") == "subscribed")
        & (
            pl.col("source_time").is_null()
            | (
                pl.col("confirmed_time").is_not_null()
                & (pl.col("source_time") <= pl.col("confirmed_time"))
            )
        )
    )
    report.held_back = int(wanted.filter(older).height)
    plan = wanted.filter(~older).select(empty.columns)
    report.planned = plan.height
    return plan


def _keep_braze_unsubscribes(con, client, destination, run_id, plan, report, log) -> pl.DataFrame:
    """People also unsubscribe in Braze itself (its unsubscribe links). Before a subscribe goes
    out, read the profile back: a group Braze holds unsubscribed is not overwritten. It is recorded
    as an unsubscribe as of the read (the latest time it can have happened), so only an authority
    record updated after that read subscribes the profile again."""
    # An unsubscribe already in confirmed state was weighed against the authority's time.
    subscribes = plan.filter(
        (pl.col("state") == "subscribed")
        & pl.col("confirmed_state").ne_missing("unsubscribed")
        & ~pl.col("identifier").str.starts_with(ALIAS_KEY_PREFIX)
    )
    if subscribes.is_empty():
        return plan
    ids = subscribes["identifier"].unique().sort().to_list()
    users = client.export_ids(ids, ["external_id", "subscription_groups"])
    read_at = now_utc()
    in_braze = pl.DataFrame(
        [
            (user.get("external_id"), group.get("id"))
            for user in users
            for group in user.get("subscription_groups") or ()
            if str(group.get("status", "")).lower() == "unsubscribed"
        ],
        schema={"identifier": pl.String, "group_id": pl.String},
        orient="row",
    )
    held = subscribes.join(in_braze, on=["identifier", "group_id"], how="semi")
    if held.is_empty():
        return plan
    report.held_back += held.height
    log.info(
        "subscription groups %s: %d subscribes not sent, the profiles unsubscribed in Braze",
        destination,
        held.height,
    )
    _confirm(
        con,
        destination,
        run_id,
        held.with_columns(
            pl.lit("unsubscribed").alias("state"), pl.lit(read_at).alias("source_time")
        ),
    )
    report.planned -= held.height
    return plan.join(held, on=["identifier", "group_id"], how="anti")


def _confirm(con, destination: str, run_id: str, rows: pl.DataFrame) -> None:
    """Record states Braze holds: identifier, group_id, state, source_time."""
    con.register("_lc_sub_done", rows.select("identifier", "group_id", "state", "source_time"))
    try:
        with transaction(con):
            con.execute(
                f"""DELETE FROM {STATES} s USING _lc_sub_done d WHERE s.destination = $d
                    AND s.identifier = d.identifier AND s.group_id = d.group_id""",
                {"d": destination},
            )
            con.execute(
                f"""INSERT INTO {STATES} SELECT $d, identifier, group_id, state, source_time, $now, $run
                    FROM _lc_sub_done""",
                {"d": destination, "now": now_utc(), "run": run_id},
            )
    finally:
        con.unregister("_lc_sub_done")


def send_subscription_states(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    authority,
    groups: Sequence[SubscriptionGroupConfig],
    run_id: str,
    dry_run: bool = False,
    update_existing_only: bool = True,
    log: logging.Logger = _LOG,
) -> SubscriptionReport:
    """Send the planned states, one attribute object per profile; record what Braze accepted."""
    report = SubscriptionReport()
    plan = plan_subscription_states(con, destination, authority, groups, report)
    if dry_run or plan.is_empty():
        return report
    if identifier_type == "external_id":
        plan = _keep_braze_unsubscribes(con, client, destination, run_id, plan, report, log)
        if plan.is_empty():
            return report
    per_profile = plan.group_by("identifier", maintain_order=True).agg(
        pl.struct("group_id", "state").alias("groups")
    )
    objects = []
    for identifier, states in per_profile.iter_rows():
        head = braze_head(identifier_type, identifier, update_existing_only)
        head["subscription_groups"] = [
            {"subscription_group_id": s["group_id"], "subscription_state": s["state"]}
            for s in states
        ]
        objects.append(head)
    result = client.track_attributes(objects)
    delivered = [
        identifier
        for identifier, outcome in zip(per_profile["identifier"], result.outcomes)
        if outcome.status == "delivered"
    ]
    done = plan.filter(pl.col("identifier").is_in(delivered))
    report.sent = done.height
    report.rejected = plan.height - done.height
    _confirm(con, destination, run_id, done)
    log.info("subscription groups %s: %s", destination, report.metadata())
    return report
