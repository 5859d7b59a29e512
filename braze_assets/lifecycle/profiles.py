"""Profile merges and deletions in Braze, driven by the identity registry (plain Python, no Dagster).

Merges. identity's `customer_id_registry` marks a customer merged into another with
`merged_into`. When the retired customer's Braze identifier differs from the survivor's and Braze
has its profile (confirmed state holds values for it), the retired profile must not stay behind
with stale attributes and memberships:
- `merge`: /users/merge with the surviving identifier kept. Braze gives the kept profile the
  merged one's custom attributes only where it has none itself (BRAZE.md, "Other user
  endpoints"), so confirmed state copies exactly those values to the survivor; the next diff then
  clears or corrects whatever the survivor should not hold (stale memberships leave).
- `leave_and_clear`: the retired profile is sent a leave for every membership and null for every
  attribute the project manages (/users/track, _update_existing_only), and stays in Braze.
Either way its confirmed state is dropped and the outcome is a row of braze_profile_merges.
Braze merges asynchronously (202, no per-update result), so for external_id destinations a
merge is recorded `requested` and read back with /users/export/ids (by external id or alias):
`merged` once the retired identifier is gone (or names the kept profile itself), `failed` when
the kept profile is missing. A merge still pending is read back
again by the next run, which asks Braze for it once more (a no-op if Braze did it meanwhile).

Deletions. Customers retired without a survivor (gone from every source) for longer than the
grace period, and customers named in the configured deletion source (privacy requests, no grace
period) are deleted with /users/delete, at most `max_per_run` per run. Confirmed state,
rejections, snapshots and profile keys then forget their identifier; privacy deletions keep a row
in braze_profile_deletions so the snapshot never includes that identifier again.

A dry run plans and returns the lists without calling Braze or writing anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb
import orjson
import polars as pl

from braze_assets import tables
from braze_assets.attributes.fields import ALIAS_KEY_PREFIX
from braze_assets.lifecycle.config import DeletionConfig, MergeMode
from braze_assets.lifecycle.tables import (
    DELETIONS,
    MERGES,
    PROFILE_KEYS,
    ensure_lifecycle_tables,
    now_utc,
)
from braze_assets.sync.tables import (
    CONFIRMED,
    KIND_MEMBERSHIP_ARRAY,
    KIND_MEMBERSHIP_BOOL,
    REJECTIONS,
    SNAPSHOTS,
    ensure_tables,
    key_id_sql,
)
from braze_assets.warehouse import quote, table_columns, table_exists, transaction

_LOG = logging.getLogger("braze_assets.lifecycle")
ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
REGISTRY = "customer_id_registry"
PRIVACY = "privacy_request"
DISAPPEARED = "gone_from_sources"


@dataclass
class LifecycleReport:
    destination: str
    dry_run: bool
    merges_planned: list[dict] = field(default_factory=list)
    merged: int = 0
    left_and_cleared: int = 0
    merges_failed: int = 0
    merges_pending: int = 0
    deletions_planned: list[dict] = field(default_factory=list)
    deleted: int = 0
    deletions_failed: int = 0
    deletions_deferred: int = 0
    aliases_planned: int = 0
    aliases_created: int = 0
    aliases_identified: int = 0
    messages: list[str] = field(default_factory=list)
    subscriptions: object = None  # a SubscriptionReport when subscription groups are configured

    def metadata(self) -> dict[str, int]:
        groups = self.subscriptions.metadata() if self.subscriptions is not None else {}
        return {
            **groups,
            "merges_planned": len(self.merges_planned),
            "profiles_merged": self.merged,
            "profiles_left_and_cleared": self.left_and_cleared,
            "merges_failed": self.merges_failed,
            "merges_pending": self.merges_pending,
            "deletions_planned": len(self.deletions_planned),
            "profiles_deleted": self.deleted,
            "deletions_failed": self.deletions_failed,
            "deletions_deferred": self.deletions_deferred,
            "aliases_planned": self.aliases_planned,
            "aliases_created": self.aliases_created,
            "aliases_identified": self.aliases_identified,
        }


def is_alias_key(identifier: str) -> bool:
    return identifier.startswith(ALIAS_KEY_PREFIX)


def braze_identifier(identifier_type: str, identifier: str) -> dict:
    """The /users/* identifier object of a stored identifier ('label:name' for aliases; an
    external_id destination's customer without an external id has an alias key)."""
    if identifier_type == "external_id" and is_alias_key(identifier):
        identifier_type, identifier = "user_alias", identifier[len(ALIAS_KEY_PREFIX) :]
    if identifier_type == "user_alias":
        label, _, name = identifier.partition(":")
        return {"user_alias": {"alias_name": name, "alias_label": label}}
    return {identifier_type: identifier}


def braze_head(identifier_type: str, identifier: str, update_existing_only: bool) -> dict:
    """The identifier part of a /users/track object; like the attributes, an event or a
    subscription state never creates a profile Braze does not have when the destination
    updates existing profiles only."""
    head = braze_identifier(identifier_type, identifier)
    if update_existing_only:
        head["_update_existing_only"] = True
    return head


def record_profile_keys(con: duckdb.DuckDBPyConnection, destination: str) -> int:
    """Remember today's (customer id, identifier) pairs; return how many are new."""
    ensure_lifecycle_tables(con)
    if not table_exists(con, ATTRIBUTES_TABLE):
        return 0
    now = now_utc()
    with transaction(con):
        con.execute(
            f"""UPDATE {PROFILE_KEYS} k SET last_seen_at = $now FROM {ATTRIBUTES_TABLE} a
                WHERE a.destination = $d AND k.destination = $d AND k.customer_id = a.customer_id
                  AND k.identifier = a.identifier""",
            {"now": now, "d": destination},
        )
        new = con.execute(
            f"""INSERT INTO {PROFILE_KEYS}
                SELECT DISTINCT $d, a.customer_id, a.identifier, $now, $now FROM {ATTRIBUTES_TABLE} a
                WHERE a.destination = $d AND a.identifier IS NOT NULL AND a.customer_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM {PROFILE_KEYS} k WHERE k.destination = $d
                                  AND k.customer_id = a.customer_id AND k.identifier = a.identifier)""",
            {"now": now, "d": destination},
        ).fetchone()
    return int(new[0]) if new else 0


def _current_identifiers_sql() -> str:
    return f"SELECT identifier FROM {ATTRIBUTES_TABLE} WHERE destination = $d AND identifier IS NOT NULL"


# A merge plan's columns (plan_merges), all text.
_MERGE_COLUMNS = (
    "merge_identifier",
    "keep_identifier",
    "retired_customer_id",
    "surviving_customer_id",
)


def plan_merges(con: duckdb.DuckDBPyConnection, destination: str) -> pl.DataFrame:
    """Merges to apply: retired identifier -> surviving identifier (one row per retired profile).

    A retired customer's identifiers merge into its final survivor's current identifier; an
    active customer's earlier identifiers merge into its current one."""
    ensure_tables(con)
    ensure_lifecycle_tables(con)
    if not (table_exists(con, REGISTRY) and table_exists(con, ATTRIBUTES_TABLE)):
        return pl.DataFrame(schema=dict.fromkeys(_MERGE_COLUMNS, pl.String))
    # A survivor may itself be merged later: follow merged_into to the end of the chain.
    return con.execute(
        f"""WITH RECURSIVE chain(retired, survivor, depth) AS (
                SELECT customer_id, merged_into, 1 FROM {REGISTRY} WHERE merged_into IS NOT NULL
                UNION ALL
                SELECT c.retired, r.merged_into, c.depth + 1 FROM chain c
                JOIN {REGISTRY} r ON r.customer_id = c.survivor
                WHERE r.merged_into IS NOT NULL AND c.depth < 50
            ), final AS (
                SELECT retired, survivor FROM chain
                QUALIFY row_number() OVER (PARTITION BY retired ORDER BY depth DESC) = 1
                -- A customer still active whose identifier changed (its coalesced external id now
                -- comes from a record that joined it): its old profile merges into its new one.
                UNION ALL
                SELECT customer_id, customer_id FROM {REGISTRY} WHERE status = 'active'
            )
            SELECT k.identifier AS merge_identifier, a.identifier AS keep_identifier,
                   f.retired AS retired_customer_id, f.survivor AS surviving_customer_id
            FROM final f
            JOIN {PROFILE_KEYS} k ON k.destination = $d AND k.customer_id = f.retired
            JOIN {ATTRIBUTES_TABLE} a ON a.destination = $d AND a.customer_id = f.survivor
            WHERE a.identifier IS NOT NULL AND k.identifier <> a.identifier
              -- The same customer's alias profile getting an external id: /users/identify (aliases).
              AND NOT (f.retired = f.survivor AND starts_with(k.identifier, $alias_prefix))
              AND k.identifier NOT IN ({_current_identifiers_sql()})
              AND EXISTS (SELECT 1 FROM {CONFIRMED} c WHERE c.destination = $d AND c.identifier = k.identifier)
              AND NOT EXISTS (SELECT 1 FROM {MERGES} m WHERE m.destination = $d
                              AND m.merge_identifier = k.identifier
                              AND m.status IN ('merged', 'requested', 'left_and_cleared'))
            QUALIFY row_number() OVER (PARTITION BY k.identifier ORDER BY a.identifier) = 1
            ORDER BY merge_identifier""",
        {"d": destination, "alias_prefix": ALIAS_KEY_PREFIX},
    ).pl()


def _record_merges(con, destination, run_id, plan: pl.DataFrame, mode, status, message, moved):
    frame = plan.select(
        "retired_customer_id", "surviving_customer_id", "merge_identifier", "keep_identifier"
    ).with_columns(
        pl.Series("attributes_moved", moved if moved is not None else [0] * len(plan), pl.Int32)
    )
    con.register("_lc_merge_rows", frame)
    try:
        con.execute(
            f"""INSERT INTO {MERGES} SELECT $d, $run, retired_customer_id, surviving_customer_id,
                    merge_identifier, keep_identifier, $mode, $status, $message, attributes_moved, $now
                FROM _lc_merge_rows""",
            {
                "d": destination,
                "run": run_id,
                "mode": mode,
                "status": status,
                "message": message,
                "now": now_utc(),
            },
        )
    finally:
        con.unregister("_lc_merge_rows")


def _forget_confirmed(con, destination: str, identifiers: list[str]) -> None:
    _delete_identifiers(con, destination, identifiers, (CONFIRMED, REJECTIONS))


def _delete_identifiers(con, destination: str, identifiers: list[str], names) -> None:
    con.register(
        "_lc_forget", pl.DataFrame({"identifier": identifiers}, schema={"identifier": pl.String})
    )
    try:
        for table in names:
            con.execute(
                f"DELETE FROM {table} WHERE destination = ? AND identifier IN (SELECT identifier FROM _lc_forget)",
                [destination],
            )
    finally:
        con.unregister("_lc_forget")


def move_confirmed(con, destination: str, plan: pl.DataFrame, run_id: str) -> list[int]:
    """Copy to each survivor the retired profile's confirmed values of attributes the survivor
    has none of (what Braze's merge does), then forget the retired profile. Returns the number
    of attributes copied per merge."""
    con.register("_lc_pairs", plan.select("merge_identifier", "keep_identifier"))
    try:
        moved = dict(
            con.execute(
                f"""SELECT p.merge_identifier, count(DISTINCT c.attribute) FROM _lc_pairs p
                    JOIN {CONFIRMED} c ON c.destination = $d AND c.identifier = p.merge_identifier
                    WHERE c.attribute NOT IN (SELECT attribute FROM {CONFIRMED} s
                                              WHERE s.destination = $d AND s.identifier = p.keep_identifier)
                    GROUP BY 1""",
                {"d": destination},
            ).fetchall()
        )
        con.execute(
            f"""INSERT INTO {CONFIRMED}
                SELECT c.destination, p.keep_identifier AS identifier, c.attribute, c.element,
                       {key_id_sql("p.keep_identifier", "c.attribute", "c.element")},
                       c.kind, c.billable, c.value_json, c.value_hash, $now, $run
                FROM _lc_pairs p JOIN {CONFIRMED} c ON c.destination = $d AND c.identifier = p.merge_identifier
                WHERE c.attribute NOT IN (SELECT attribute FROM {CONFIRMED} s
                                          WHERE s.destination = $d AND s.identifier = p.keep_identifier)""",
            {"d": destination, "now": now_utc(), "run": run_id},
        )
    finally:
        con.unregister("_lc_pairs")
    _forget_confirmed(con, destination, plan["merge_identifier"].to_list())
    return [int(moved.get(i, 0)) for i in plan["merge_identifier"]]


def leave_and_clear_objects(
    con: duckdb.DuckDBPyConnection, destination: str, identifier_type: str, identifiers: list[str]
) -> list[dict]:
    """One /users/track object per retired profile: null for every managed value, false for
    boolean memberships, remove for array memberships; update existing profiles only."""
    if not identifiers:
        return []
    con.register(
        "_lc_ids", pl.DataFrame({"identifier": identifiers}, schema={"identifier": pl.String})
    )
    try:
        rows = con.execute(
            f"""SELECT identifier, attribute, kind, list(element ORDER BY element) FROM {CONFIRMED}
                WHERE destination = ? AND identifier IN (SELECT identifier FROM _lc_ids)
                GROUP BY ALL ORDER BY identifier, attribute""",
            [destination],
        ).fetchall()
    finally:
        con.unregister("_lc_ids")
    objects: dict[str, dict] = {
        i: {**braze_identifier(identifier_type, i), "_update_existing_only": True}
        for i in identifiers
    }
    for identifier, attribute, kind, elements in rows:
        if kind == KIND_MEMBERSHIP_ARRAY:
            objects[identifier][attribute] = {"remove": list(elements)}
        elif kind == KIND_MEMBERSHIP_BOOL:
            objects[identifier][attribute] = False
        else:
            objects[identifier][attribute] = None
    return [objects[i] for i in identifiers]


def apply_merges(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    mode: MergeMode,
    run_id: str,
    report: LifecycleReport,
    log: logging.Logger = _LOG,
) -> None:
    if mode == "off":
        return
    if mode == "merge" and identifier_type == "external_id" and not report.dry_run:
        _read_back_merges(con, client, destination, report, run_id, earlier=True, log=log)
    plan = plan_merges(con, destination)
    report.merges_planned = plan.to_dicts()
    if report.dry_run or plan.is_empty():
        return
    if mode == "merge":
        for start in range(0, len(plan), 50):
            chunk = plan.slice(start, 50)
            pairs = [
                (
                    braze_identifier(identifier_type, gone),
                    braze_identifier(identifier_type, kept),
                )
                for gone, kept in zip(chunk["merge_identifier"], chunk["keep_identifier"])
            ]
            try:
                client.merge_users(pairs)
            except Exception as exc:  # recorded per merge and retried next run
                message = f"{type(exc).__name__}: {exc}"
                with transaction(con):
                    _record_merges(con, destination, run_id, chunk, mode, "failed", message, None)
                report.merges_failed += len(chunk)
                report.messages.append(message)
                log.warning("%s: %d merges failed: %s", destination, len(chunk), message)
                continue
            # Only external_id destinations are read back (/users/export/ids by external id or
            # alias); other merges are taken as done.
            status = "requested" if identifier_type == "external_id" else "merged"
            with transaction(con):
                moved = move_confirmed(con, destination, chunk, run_id)
                _record_merges(con, destination, run_id, chunk, mode, status, None, moved)
            report.merged += len(chunk) if status == "merged" else 0
        if identifier_type == "external_id":
            _read_back_merges(con, client, destination, report, run_id, earlier=False, log=log)
        return
    objects = leave_and_clear_objects(
        con, destination, identifier_type, plan["merge_identifier"].to_list()
    )
    result = client.track_attributes(objects)
    ok = [o.status == "delivered" for o in result.outcomes]
    done = plan.filter(pl.Series(ok))
    failed = plan.filter(~pl.Series(ok))
    with transaction(con):
        if len(done):
            _forget_confirmed(con, destination, done["merge_identifier"].to_list())
            _record_merges(con, destination, run_id, done, mode, "left_and_cleared", None, None)
        for row, outcome in zip(
            failed.iter_rows(named=True), (o for o in result.outcomes if o.status != "delivered")
        ):
            _record_merges(
                con, destination, run_id, pl.DataFrame([row]), mode, "failed", outcome.reason, None
            )
    report.left_and_cleared += len(done)
    report.merges_failed += len(failed)


def export_by_identifier(client, identifiers, fields) -> list[tuple[str, dict]]:
    """/users/export/ids of stored identifiers of an external_id destination (external ids and
    alias keys): (identifier, exported profile) for each that Braze has."""
    heads = {i: braze_identifier("external_id", i) for i in identifiers}
    aliases = {
        (h["user_alias"]["alias_name"], h["user_alias"]["alias_label"]): i
        for i, h in heads.items()
        if "user_alias" in h
    }
    users = client.export_ids(
        [h["external_id"] for h in heads.values() if "external_id" in h],
        ["external_id", "user_aliases", *fields],
        user_aliases=list(aliases),
    )
    found = []
    for user in users:
        keys = {user.get("external_id")} | {
            aliases.get((a.get("alias_name"), a.get("alias_label")))
            for a in user.get("user_aliases") or ()
        }
        found.extend((k, user) for k in keys if k in heads)
    return found


def _read_back_merges(
    con, client, destination: str, report: LifecycleReport, run_id: str, *, earlier: bool, log=_LOG
) -> None:
    """Settle `requested` merges from what Braze holds now (see the module doc): those of earlier
    runs (a merge Braze has still not done is requested once more) or those of this run."""
    ensure_lifecycle_tables(con)
    pending = con.execute(
        f"""SELECT DISTINCT merge_identifier, keep_identifier FROM {MERGES}
            WHERE destination = ? AND status = 'requested' AND (run_id = ?) <> ? ORDER BY 1""",
        [destination, run_id, earlier],
    ).fetchall()
    if not pending:
        return
    ids = sorted({i for pair in pending for i in pair})
    try:
        # Profile per identifier: a merged alias may now name the kept profile itself.
        present = {i: u.get("braze_id") for i, u in export_by_identifier(client, ids, ["braze_id"])}
    except Exception as exc:  # read back next run
        log.warning("%s: merge read-back failed, retried next run: %s", destination, exc)
        report.merges_pending += len(pending)
        return
    settled: list[tuple[str, str, str | None]] = []
    retry, missing = [], []
    for gone, kept in pending:
        if kept not in present:
            settled.append(
                ("failed", f"kept profile {kept!r} is not in Braze after the merge", gone)
            )
            missing.append(kept)
        elif gone not in present or present[gone] == present[kept]:
            settled.append(("merged", None, gone))
        else:
            retry.append((gone, kept))
    with transaction(con):
        for status, message, gone in settled:
            con.execute(
                f"""UPDATE {MERGES} SET status = ?, message = ?, recorded_at = ?
                WHERE destination = ? AND merge_identifier = ? AND status = 'requested'""",
                [status, message, now_utc(), destination, gone],
            )
        if missing:  # Braze has no such profile: nothing of it is confirmed any more
            _forget_confirmed(con, destination, missing)
    report.merged += sum(1 for s in settled if s[0] == "merged")
    report.merges_failed += sum(1 for s in settled if s[0] == "failed")
    report.merges_pending += len(retry)
    if earlier and retry:
        client.merge_users(
            [
                (braze_identifier("external_id", g), braze_identifier("external_id", k))
                for g, k in retry
            ]
        )


def plan_deletions(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    config: DeletionConfig,
    *,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """(customer_id, identifier, reason) to delete, privacy requests first, oldest first."""
    ensure_tables(con)
    ensure_lifecycle_tables(con)
    empty = pl.DataFrame(
        schema={"customer_id": pl.String, "identifier": pl.String, "reason": pl.String}
    )
    parts = []
    params: dict = {"d": destination}
    current = (
        f"AND k.identifier NOT IN ({_current_identifiers_sql()})"
        if table_exists(con, ATTRIBUTES_TABLE)
        else ""
    )
    if table_exists(con, REGISTRY):
        params["cutoff"] = (now or now_utc()) - dt.timedelta(days=config.grace_days)
        parts.append(
            f"""SELECT k.customer_id, k.identifier, '{DISAPPEARED}' AS reason, 1 AS rank, r.retired_at AS since
                FROM {REGISTRY} r JOIN {PROFILE_KEYS} k ON k.destination = $d AND k.customer_id = r.customer_id
                WHERE r.status = 'retired' AND r.merged_into IS NULL AND r.retired_at <= $cutoff {current}
                  AND EXISTS (SELECT 1 FROM {CONFIRMED} c WHERE c.destination = $d AND c.identifier = k.identifier)"""
        )
    if config.source_table:
        if not table_exists(con, config.source_table):
            raise ValueError(
                f"sync.lifecycle.deletions.source_table {config.source_table!r} does not exist in the "
                "warehouse: load the privacy requests there or unset source_table"
            )
        column = config.source_customer_id_column
        if column not in table_columns(con, config.source_table):
            raise ValueError(
                f"sync.lifecycle.deletions.source_customer_id_column {column!r} is not a column of "
                f"{config.source_table}; it has {', '.join(table_columns(con, config.source_table))}"
            )
        parts.append(
            f"""SELECT k.customer_id, k.identifier, '{PRIVACY}' AS reason, 0 AS rank, NULL::TIMESTAMP AS since
                FROM {PROFILE_KEYS} k
                WHERE k.destination = $d AND k.customer_id IN (
                    SELECT CAST({quote(column)} AS VARCHAR) FROM {quote(config.source_table)})"""
        )
    if not parts:
        return empty
    return con.execute(
        f"""SELECT customer_id, identifier, reason FROM ({" UNION ALL ".join(parts)}) p
            WHERE NOT EXISTS (SELECT 1 FROM {DELETIONS} x WHERE x.destination = $d
                              AND x.identifier = p.identifier AND x.status = 'deleted')
            QUALIFY row_number() OVER (PARTITION BY identifier ORDER BY rank) = 1
            ORDER BY rank, since NULLS FIRST, identifier""",
        params,
    ).pl()


def _record_deletions(con, destination, run_id, rows: pl.DataFrame, status, message) -> None:
    con.register("_lc_del_rows", rows.select("customer_id", "identifier", "reason"))
    try:
        con.execute(
            f"""INSERT INTO {DELETIONS} SELECT $d, $run, customer_id, identifier, reason, $status, $message, $now
                FROM _lc_del_rows""",
            {
                "d": destination,
                "run": run_id,
                "status": status,
                "message": message,
                "now": now_utc(),
            },
        )
    finally:
        con.unregister("_lc_del_rows")


def forget_profiles(
    con: duckdb.DuckDBPyConnection, destination: str, identifiers: list[str]
) -> None:
    """Drop every trace of deleted profiles except the deletion record itself."""
    _delete_identifiers(
        con, destination, identifiers, (CONFIRMED, REJECTIONS, SNAPSHOTS, PROFILE_KEYS)
    )


def apply_deletions(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    config: DeletionConfig,
    run_id: str,
    report: LifecycleReport,
    now: dt.datetime | None = None,
    log: logging.Logger = _LOG,
) -> None:
    if not config.enabled:
        return
    plan = plan_deletions(con, destination, config, now=now)
    report.deletions_deferred = max(0, len(plan) - config.max_per_run)
    plan = plan.head(config.max_per_run)
    report.deletions_planned = plan.to_dicts()
    if report.dry_run or plan.is_empty():
        return
    if identifier_type not in ("external_id", "user_alias"):
        message = (
            f"/users/delete by {identifier_type} is not supported; delete these profiles in Braze"
        )
        with transaction(con):
            _record_deletions(con, destination, run_id, plan, "failed", message)
        report.deletions_failed += len(plan)
        report.messages.append(message)
        return
    for start in range(0, len(plan), 50):
        chunk = plan.slice(start, 50)
        identifiers = chunk["identifier"].to_list()
        heads = [braze_identifier(identifier_type, i) for i in identifiers]
        try:
            external = [h["external_id"] for h in heads if "external_id" in h]
            aliases = [h["user_alias"] for h in heads if "user_alias" in h]
            if external:
                client.delete_users(external)
            if aliases:
                client.delete_aliases([(a["alias_name"], a["alias_label"]) for a in aliases])
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            with transaction(con):
                _record_deletions(con, destination, run_id, chunk, "failed", message)
            report.deletions_failed += len(chunk)
            report.messages.append(message)
            log.warning("%s: %d deletions failed: %s", destination, len(chunk), message)
            continue
        with transaction(con):
            forget_profiles(con, destination, identifiers)
            _record_deletions(con, destination, run_id, chunk, "deleted", None)
        report.deleted += len(chunk)


def suppressed_identifiers_sql(destination: str = "$destination") -> str:
    """Identifiers never to send again (privacy deletions), for the snapshot; `destination` is
    the SQL giving the destination's name."""
    return (
        f"SELECT identifier FROM {DELETIONS} WHERE destination = {destination} "
        f"AND reason = '{PRIVACY}' AND status = 'deleted'"
    )


def run_lifecycle(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    merge_mode: MergeMode,
    deletions: DeletionConfig,
    run_id: str,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    consent_source=None,
    aliases=None,
    subscription_groups=(),
    update_existing_only: bool = True,
    log: logging.Logger = _LOG,
) -> LifecycleReport:
    """Merges, then deletions, aliases, then remember today's profile keys and the consent
    authority's update times (not in a dry run), then the authority's subscription groups."""
    report = LifecycleReport(destination, dry_run)
    apply_merges(
        con,
        client,
        destination=destination,
        identifier_type=identifier_type,
        mode=merge_mode,
        run_id=run_id,
        report=report,
        log=log,
    )
    apply_deletions(
        con,
        client,
        destination=destination,
        identifier_type=identifier_type,
        config=deletions,
        run_id=run_id,
        report=report,
        now=now,
        log=log,
    )
    if aliases is not None:
        from braze_assets.lifecycle.aliases import manage_aliases

        done = manage_aliases(
            con,
            client,
            destination=destination,
            identifier_type=identifier_type,
            config=aliases,
            dry_run=dry_run,
            run_id=run_id,
        )
        report.aliases_planned = done.planned_new + done.planned_identify
        report.aliases_created, report.aliases_identified = done.created, done.identified
    if not dry_run:
        record_profile_keys(con, destination)
        if consent_source is not None:
            from braze_assets.lifecycle.consent import refresh_consent_times

            refresh_consent_times(con, destination, consent_source)
    if consent_source is not None and subscription_groups:
        from braze_assets.lifecycle.subscriptions import send_subscription_states

        report.subscriptions = send_subscription_states(
            con,
            client,
            destination=destination,
            identifier_type=identifier_type,
            authority=consent_source,
            groups=subscription_groups,
            run_id=run_id,
            dry_run=dry_run,
            update_existing_only=update_existing_only,
            log=log,
        )
    if report.merges_planned or report.deletions_planned:
        log.info(
            "lifecycle %s%s: %s",
            destination,
            " (dry run)" if dry_run else "",
            orjson.dumps(report.metadata()).decode(),
        )
    return report
