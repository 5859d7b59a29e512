"""Orders from the transaction sources to Braze, each exactly once (plain Python, no Dagster).

Format. By default each order is Braze's eCommerce recommended event `ecommerce.order_placed`
(plus `ecommerce.order_refunded` / `ecommerce.order_cancelled` when the configured status column
says so) with the documented schema: order_id, total_value, currency, source, products (product
id, name, variant id, quantity, price) -- BRAZE.md, "Events and orders". The transaction sources
carry no line items, so an order goes as one product line named after its transaction source at
the order's total; the item count and channel ride in `metadata`. The legacy purchase object
(maintenance mode at Braze) is available as `format: purchase`.

Exactly once. Braze does not deduplicate events, so each event has a stable key
(`<transaction source>:<order id>:<event name>`) recorded in braze_event_log:
1. a group of events (at most concurrency x 75) is written as `in_flight` and committed before
   its requests go out;
2. after the answers, delivered events become `confirmed`, rejected ones `rejected` (neither is
   sent again) and events that never reached Braze are removed from the log (sent next run).
A run killed between 1 and 2 leaves `in_flight` rows: Braze may or may not have them. The next
run reads them back before planning (/users/export/ids, external ids only): per profile and
event name (product id for purchases), Braze's count minus the events the log holds confirmed
there (including those of profiles merged into it) says how many of the in-flight ones arrived.
All of them: they become `confirmed`. None (or no profile): they leave the log and are sent
again, once, under the same protocol. Anything else, or no read-back (other identifier types,
aliases identified since, export failed): they stay unsent as `uncertain`, reported, since a resend could double revenue.
The count is exact only while nothing else (an SDK, another integration) logs the same event
names on these profiles.
Events ride in /users/track `events` (or `purchases`) requests of at most `objects_per_request`
objects, inside Braze's limit of 75 objects per request across the three arrays.

Cost. Each event or purchase is counted as one data point in the forecast and the budget (the
project's assumption; BRAZE.md lists no price for events).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import orjson
import polars as pl

from braze_assets import tables
from braze_assets.attributes.fields import ALIAS_KEY_PREFIX
from braze_assets.braze.client import BrazeError
from braze_assets.config.sources import TransactionSourceConfig
from braze_assets.customer_360.transactions import _parse_sql, _staged
from braze_assets.engine.duckdb_engine import DuckDBEngine
from braze_assets.lifecycle.config import OrderEventsConfig
from braze_assets.lifecycle.profiles import braze_head, export_by_identifier
from braze_assets.lifecycle.tables import (
    ALIASES,
    DELETIONS,
    EVENT_LOG,
    MERGES,
    counters,
    ensure_lifecycle_tables,
    now_utc,
)
from braze_assets.warehouse import quote, table_columns, table_exists, transaction

_LOG = logging.getLogger("braze_assets.lifecycle")
ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
PLACED, REFUNDED, CANCELLED = (
    "ecommerce.order_placed",
    "ecommerce.order_refunded",
    "ecommerce.order_cancelled",
)
PURCHASE = "purchase"
DATA_POINTS_PER_EVENT = 1
# As braze_assets.sync.diff.UNKNOWN_USER_SQL: Braze documents no text for a missing profile.
_UNKNOWN_USER = re.compile("no existing user|does not exist")


@dataclass
class OrderReport:
    destination: str
    dry_run: bool
    planned: int = 0
    forecast_data_points: int = 0
    confirmed: int = 0
    rejected: int = 0
    not_delivered: int = 0
    unknown_users: int = 0
    retried_unknown: int = 0
    deferred: int = 0
    uncertain: int = 0
    read_back_confirmed: int = 0
    read_back_resent: int = 0
    blocked: str | None = None
    samples: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, int]:
        return counters(self, "order_events_")


def _orders_sql(con, txns: Sequence[TransactionSourceConfig], config: OrderEventsConfig) -> str:
    """One row per usable order: txn_source, txn_id, customer_id, ordered_at, revenue, items,
    channel, status."""
    parts = []
    for txn in txns:
        # The staging SQL is the customer 360's, written against the Engine interface.
        staged = _staged(txn, DuckDBEngine(con))
        status = "CAST(NULL AS VARCHAR)"
        table = f"raw_txn_{txn.name}"
        if config.status_column:
            if config.status_column not in table_columns(con, table):
                raise ValueError(
                    f"sync.lifecycle.orders.status_column {config.status_column!r} is not a column of "
                    f"{table} (transaction source {txn.name!r})"
                )
            status = f"lower(trim(CAST({quote(config.status_column)} AS VARCHAR)))"
        parts.append(
            f"SELECT s.*, {status} AS status FROM ({staged}) s "
            f"JOIN (SELECT _row_number AS rn, * FROM {quote(table)}) r ON r.rn = s._row_number"
        )
    return " UNION ALL ".join(parts)


def plan_order_events(
    con: duckdb.DuckDBPyConnection,
    *,
    destination: str,
    identifier_type: str,
    transactions: Sequence[TransactionSourceConfig],
    config: OrderEventsConfig,
    now: dt.datetime | None = None,
    update_existing_only: bool = True,
    retry_unknown_every_days: float | None = 1,
    retry_unknown_for_days: float = 30,
) -> pl.DataFrame:
    """Events not yet in braze_event_log, and those of unknown users due for a retry:
    event_key, identifier, name, event_time, payload (JSON)."""
    ensure_lifecycle_tables(con)
    wanted = [
        t for t in transactions if config.transactions is None or t.name in config.transactions
    ]
    unknown = set(config.transactions or ()) - {t.name for t in transactions}
    if unknown:
        raise ValueError(
            f"sync.lifecycle.orders.transactions names unknown transaction source(s) "
            f"{', '.join(sorted(unknown))}; known: {', '.join(t.name for t in transactions) or 'none'}"
        )
    empty = pl.DataFrame(
        schema={
            "event_key": pl.String,
            "identifier": pl.String,
            "name": pl.String,
            "event_time": pl.Datetime("us"),
            "payload": pl.String,
        }
    )
    if not wanted or not table_exists(con, ATTRIBUTES_TABLE):
        return empty
    now = now or now_utc()
    since = now - dt.timedelta(days=config.lookback_days) if config.lookback_days else None
    con.execute(f"CREATE OR REPLACE TEMP TABLE _txn_raw AS {_orders_sql(con, wanted, config)}")
    try:
        orders = con.execute(
            f"""WITH parsed AS ({_parse_sql()})
            SELECT p.txn_source, p.txn_id, p.ordered_at, p.revenue::DOUBLE AS revenue, p.items, p.channel,
                   p.status, a.identifier
            FROM parsed p JOIN {ATTRIBUTES_TABLE} a ON a.destination = $d AND a.customer_id = p.customer_id
            WHERE p.customer_id IS NOT NULL AND p.ordered_at IS NOT NULL AND p.revenue IS NOT NULL
              AND NOT p.repeated_id AND p.txn_id IS NOT NULL AND a.identifier IS NOT NULL
              AND p.ordered_at <= $now {"AND p.ordered_at >= $since" if since else ""}
              {f"AND a.identifier NOT IN (SELECT identifier FROM {DELETIONS} WHERE destination = $d AND status = 'deleted')" if table_exists(con, DELETIONS) else ""}
            ORDER BY p.ordered_at, p.txn_source, p.txn_id""",
            {"d": destination, "now": now, **({"since": since} if since else {})},
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _txn_raw")
    rows = []
    for source, order_id, at, revenue, items, channel, status, identifier in orders:
        names = [PURCHASE] if config.format == "purchase" else [PLACED]
        if config.format == "ecommerce" and status in ("refunded", "refund"):
            names.append(REFUNDED)
        if config.format == "ecommerce" and status in ("cancelled", "canceled"):
            names.append(CANCELLED)
        order = _Order(source, order_id, at, revenue, items, channel)
        for name in names:
            payload = _payload(
                name, braze_head(identifier_type, identifier, update_existing_only), order, config
            )
            rows.append((f"{source}:{order_id}:{name}", identifier, name, at, payload))
    if not rows:
        return empty
    frame = pl.DataFrame(rows, schema=empty.schema, orient="row")
    # An unknown user's event is due again every retry_unknown_every_days for
    # retry_unknown_for_days after its first rejection (the attributes' back-off schedule).
    due = "false"
    params: dict = {"d": destination}
    if retry_unknown_every_days is not None:
        due = """status = 'unknown_user' AND sent_at <= $before
                 AND coalesce(first_rejected_at, sent_at) >= $since"""
        params.update(
            before=now - dt.timedelta(days=retry_unknown_every_days),
            since=now - dt.timedelta(days=retry_unknown_for_days),
        )
    logged = con.execute(
        f"SELECT event_key FROM {EVENT_LOG} WHERE destination = $d AND NOT ({due})", params
    ).pl()
    return frame.join(logged, on="event_key", how="anti")


@dataclass(frozen=True)
class _Order:
    """One order of a transaction source, as the events about it describe it."""

    source: str
    order_id: str
    at: dt.datetime
    revenue: float
    items: object
    channel: object


def _payload(name: str, head: dict, order: _Order, config: OrderEventsConfig) -> str:
    at, revenue, source, order_id = order.at, order.revenue, order.source, order.order_id
    items, channel = order.items, order.channel
    time = at.replace(microsecond=0).isoformat() + "Z"
    metadata = {k: v for k, v in (("items", items), ("channel", channel)) if v is not None}
    if name == PURCHASE:
        return orjson.dumps(
            {
                **head,
                "product_id": source,
                "currency": config.currency,
                "price": round(revenue, 2),
                "quantity": 1,
                "time": time,
                "properties": {"order_id": order_id, **metadata},
            }
        ).decode()
    return orjson.dumps(
        {
            **head,
            "name": name,
            "time": time,
            "properties": {
                "order_id": order_id,
                "total_value": round(revenue, 2),
                "currency": config.currency,
                "source": config.source,
                "products": [
                    {
                        "product_id": source,
                        "product_name": source,
                        "variant_id": source,
                        "quantity": 1,
                        "price": round(revenue, 2),
                    }
                ],
                **({"metadata": metadata} if metadata else {}),
            },
        }
    ).decode()


def _log_rows(con, destination: str, run_id: str, frame: pl.DataFrame, status: str) -> None:
    """Record events (in the caller's transaction); a retried unknown user's row gives way to
    the new one, which keeps its first rejection time."""
    con.register("_lc_events", frame.select("event_key", "identifier", "name", "event_time"))
    try:
        con.execute(
            f"""INSERT INTO {EVENT_LOG} (destination, event_key, identifier, name, event_time,
                    data_points, status, reason, run_id, sent_at, first_rejected_at)
                SELECT $d, e.event_key, e.identifier, e.name, e.event_time, $points, $status, NULL,
                       $run, $now, (SELECT min(x.first_rejected_at) FROM {EVENT_LOG} x
                                    WHERE x.destination = $d AND x.event_key = e.event_key
                                      AND x.status = 'unknown_user')
                FROM _lc_events e""",
            {
                "d": destination,
                "points": DATA_POINTS_PER_EVENT,
                "status": status,
                "run": run_id,
                "now": now_utc(),
            },
        )
        con.execute(
            f"""DELETE FROM {EVENT_LOG} WHERE destination = ? AND status = 'unknown_user'
                AND event_key IN (SELECT event_key FROM _lc_events)""",
            [destination],
        )
    finally:
        con.unregister("_lc_events")


# The name Braze counts an event under: the event name, or a purchase's product id (its source).
_BRAZE_NAME = "CASE WHEN e.name = 'purchase' THEN split_part(e.event_key, ':', 1) ELSE e.name END"


def settle_in_flight(con, client, destination: str, report: OrderReport, log=_LOG) -> None:
    """Settle the in-flight events of a killed run from Braze's counts (see the module doc)."""
    # An alias identified since (its profile now also holds the external id's events) is left
    # in flight: its count no longer tells the alias's events apart.
    groups = con.execute(
        f"""SELECT e.identifier, {_BRAZE_NAME} AS braze_name, list(e.event_key ORDER BY e.event_key)
            FROM {EVENT_LOG} e WHERE e.destination = $d AND e.status = 'in_flight'
              AND e.identifier NOT IN (SELECT $prefix || alias_label || ':' || alias_name
                                       FROM {ALIASES} WHERE destination = $d AND status = 'identified')
            GROUP BY ALL""",
        {"d": destination, "prefix": ALIAS_KEY_PREFIX},
    ).fetchall()
    if not groups:
        return
    identifiers = sorted({g[0] for g in groups})
    try:
        keyed = export_by_identifier(client, identifiers, ["custom_events", "purchases"])
    except Exception as exc:  # stay in flight: read back next run
        log.warning("order events %s: read-back failed, tried next run: %s", destination, exc)
        return
    found = {k for k, _ in keyed}
    braze = {
        (k, item.get("name")): int(item.get("count") or 0)
        for k, user in keyed
        for array in ("custom_events", "purchases")
        for item in user.get(array) or ()
    }
    con.register(
        "_lc_ids", pl.DataFrame({"identifier": identifiers}, schema={"identifier": pl.String})
    )
    try:
        # Events confirmed on each profile, plus those of the profiles merged into it.
        ours = {
            (identifier, name): int(n)
            for identifier, name, n in con.execute(
                f"""SELECT coalesce(m.keep_identifier, e.identifier) AS who, {_BRAZE_NAME}, count(*)
                    FROM {EVENT_LOG} e
                    LEFT JOIN (SELECT DISTINCT merge_identifier, keep_identifier FROM {MERGES}
                               WHERE destination = $d AND status = 'merged') m
                      ON m.merge_identifier = e.identifier
                    WHERE e.destination = $d AND e.status = 'confirmed'
                      AND coalesce(m.keep_identifier, e.identifier) IN (SELECT identifier FROM _lc_ids)
                    GROUP BY ALL""",
                {"d": destination},
            ).fetchall()
        }
    finally:
        con.unregister("_lc_ids")
    confirm, resend, uncertain = [], [], []
    for identifier, name, keys in groups:
        arrived = braze.get((identifier, name), 0) - ours.get((identifier, name), 0)
        if identifier not in found or arrived == 0:
            resend.extend(keys)
        elif arrived == len(keys):
            confirm.extend(keys)
        else:
            uncertain.append(
                (keys, f"read back: Braze counts {arrived} new of {len(keys)} in flight")
            )
    with transaction(con):
        for keys, status, reason in (
            (confirm, "confirmed", "read back after an interrupted run"),
            *((k, "uncertain", r) for k, r in uncertain),
        ):
            if keys:
                con.execute(
                    f"""UPDATE {EVENT_LOG} SET status = ?, reason = ?, sent_at = ?
                        WHERE destination = ? AND event_key IN (SELECT unnest(?::VARCHAR[]))""",
                    [status, reason, now_utc(), destination, keys],
                )
        if resend:
            con.execute(
                f"""DELETE FROM {EVENT_LOG} WHERE destination = ? AND status = 'in_flight'
                    AND event_key IN (SELECT unnest(?::VARCHAR[]))""",
                [destination, resend],
            )
    report.read_back_confirmed, report.read_back_resent = len(confirm), len(resend)
    log.info(
        "order events %s: in-flight events read back: %d confirmed, %d resent, %d uncertain",
        destination,
        len(confirm),
        len(resend),
        sum(len(k) for k, _ in uncertain),
    )


def prepare_order_events(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    transactions: Sequence[TransactionSourceConfig],
    config: OrderEventsConfig,
    dry_run: bool = False,
    sample_size: int = 3,
    now: dt.datetime | None = None,
    update_existing_only: bool = True,
    retry_unknown_every_days: float | None = 1,
    retry_unknown_for_days: float = 30,
    log: logging.Logger = _LOG,
) -> tuple[OrderReport, pl.DataFrame]:
    """Settle a killed run's in-flight events, then plan this run's: (report, plan)."""
    report = OrderReport(destination, dry_run)
    if not config.enabled:
        return report, pl.DataFrame()
    ensure_lifecycle_tables(con)
    if not dry_run and identifier_type == "external_id":
        settle_in_flight(con, client, destination, report, log)
    plan = plan_order_events(
        con,
        destination=destination,
        identifier_type=identifier_type,
        transactions=transactions,
        config=config,
        now=now,
        update_existing_only=update_existing_only,
        retry_unknown_every_days=retry_unknown_every_days,
        retry_unknown_for_days=retry_unknown_for_days,
    )
    if len(plan):
        con.register("_lc_plan_keys", plan.select("event_key"))
        try:
            report.retried_unknown = con.execute(
                f"""SELECT count(*) FROM {EVENT_LOG} WHERE destination = ? AND status = 'unknown_user'
                    AND event_key IN (SELECT event_key FROM _lc_plan_keys)""",
                [destination],
            ).fetchone()[0]
        finally:
            con.unregister("_lc_plan_keys")
    report.uncertain = con.execute(
        f"SELECT count(*) FROM {EVENT_LOG} WHERE destination = ? AND status IN ('in_flight', 'uncertain')",
        [destination],
    ).fetchone()[0]
    if config.max_per_run is not None and len(plan) > config.max_per_run:
        report.deferred = len(plan) - config.max_per_run
        plan = plan.head(config.max_per_run)
    report.planned = len(plan)
    report.forecast_data_points = len(plan) * DATA_POINTS_PER_EVENT
    report.samples = plan["payload"].head(sample_size).to_list()
    return report, plan


def record_outcomes(con, destination: str, chunk: pl.DataFrame, outcomes, report) -> None:
    """Braze's answers for in-flight events: delivered -> confirmed, rejected -> rejected (neither
    sent again), not delivered or unknown profile -> out of the log (sent on a later run)."""
    # A profile Braze does not have yet: the event is tried again on the unknown-user back-off
    # schedule (within lookback_days), as the customer may sign up in the meantime.
    statuses = [
        "unknown_user"
        if o.status == "rejected" and _UNKNOWN_USER.search((o.reason or "").lower())
        else o.status
        for o in outcomes
    ]
    outcome = chunk.select("event_key").with_columns(
        pl.Series("status", statuses, pl.String),
        pl.Series("reason", [o.reason for o in outcomes], pl.String),
    )
    con.register("_lc_outcome", outcome)
    try:
        with transaction(con):
            con.execute(
                f"""UPDATE {EVENT_LOG} e SET status = CASE o.status WHEN 'delivered' THEN 'confirmed'
                        WHEN 'unknown_user' THEN 'unknown_user' ELSE 'rejected' END,
                        reason = o.reason, sent_at = $now,
                        first_rejected_at = CASE o.status WHEN 'unknown_user'
                            THEN coalesce(e.first_rejected_at, $now) END
                    FROM _lc_outcome o WHERE e.destination = $d AND e.event_key = o.event_key
                      AND o.status IN ('delivered', 'rejected', 'unknown_user')""",
                {"d": destination, "now": now_utc()},
            )
            # Never reached Braze (the answer says so): free to send next run.
            con.execute(
                f"""DELETE FROM {EVENT_LOG} WHERE destination = ? AND event_key IN
                    (SELECT event_key FROM _lc_outcome WHERE status = 'not_delivered')""",
                [destination],
            )
    finally:
        con.unregister("_lc_outcome")
    unknown = sum(1 for o, status in zip(outcomes, statuses) if o.status != status)
    report.confirmed += sum(1 for o in outcomes if o.status == "delivered")
    report.rejected += sum(1 for o in outcomes if o.status == "rejected") - unknown
    report.unknown_users += unknown
    report.not_delivered += sum(1 for o in outcomes if o.status == "not_delivered")


def _array(config: OrderEventsConfig) -> str:
    return "purchases" if config.format == "purchase" else "events"


@dataclass
class OrderRiders:
    """A run's order events riding in the attribute sync's /users/track requests (packed with
    the attributes, 75 objects per request across the arrays): logged in flight before the
    first request, settled from the answers (a killed run's are read back by the next run)."""

    con: duckdb.DuckDBPyConnection
    destination: str
    run_id: str
    plan: pl.DataFrame
    array: str
    report: OrderReport

    @property
    def rows(self) -> list[bytes]:
        return [p.encode() for p in self.plan["payload"]]

    @property
    def data_points(self) -> int:
        return self.report.forecast_data_points

    def before_send(self) -> None:
        with transaction(self.con):
            _log_rows(self.con, self.destination, self.run_id, self.plan, "in_flight")

    def after_send(self, outcomes) -> None:
        record_outcomes(self.con, self.destination, self.plan, outcomes, self.report)


def order_riders(report: OrderReport, plan: pl.DataFrame, con, run_id: str, config) -> OrderRiders:
    return OrderRiders(con, report.destination, run_id, plan, _array(config), report)


def send_order_events(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    run_id: str,
    data_point_budget: int | None = None,
    override_budget: bool = False,
    dry_run: bool = False,
    log: logging.Logger = _LOG,
    **plan_args,
) -> OrderReport:
    """Plan the day's order events (`plan_args`: those of prepare_order_events), stop over
    budget, send each once in requests of their own; see the module doc (the sync packs them
    with the attributes instead: OrderRiders)."""
    report, plan = prepare_order_events(con, client, dry_run=dry_run, log=log, **plan_args)
    destination, config = report.destination, plan_args["config"]
    if dry_run or plan.is_empty():
        return report
    if (
        data_point_budget is not None
        and report.forecast_data_points > data_point_budget
        and not override_budget
    ):
        report.blocked = (
            f"order events of {destination!r} not sent: {report.planned:,} events would spend "
            f"{report.forecast_data_points:,} data points, over the {data_point_budget:,} left in "
            "this run's budget; they wait for the next run (or run with override_budget: true)"
        )
        report.deferred += report.planned
        log.warning(report.blocked)
        return report
    group = max(1, client.concurrency * client.objects_per_request)
    for start in range(0, len(plan), group):
        chunk = plan.slice(start, group)
        # Durable before the requests: a run killed from here on leaves them in flight.
        with transaction(con):
            _log_rows(con, destination, run_id, chunk, "in_flight")
        error = None
        try:
            result = client.track_attributes(
                [p.encode() for p in chunk["payload"]], array=_array(config)
            )
        except BrazeError as exc:  # key, permission, endpoint: record what is known, then stop
            if exc.result is None:
                raise
            result, error = exc.result, exc
        record_outcomes(con, destination, chunk, result.outcomes, report)
        if error is not None:
            raise error
    log.info("order events %s: %s", destination, orjson.dumps(report.metadata()).decode())
    return report
