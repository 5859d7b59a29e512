"""Per-customer engagement from Currents events, back into the customer 360.

Customers are linked through `external_user_id`. Events that carry only Braze's `user_id` are
attributed too once any event links that `user_id` to an `external_user_id` (the most recent link
wins), so the table is rebuilt in full each time: a link learned today re-attributes old events.
Machine opens (e.g. Apple Mail Privacy Protection, `machine_open = 'true'`) are not counted as opens
because no person opened anything.

Written once against the Engine (DuckDB-dialect SQL, transpiled for Spark): DuckDB mode runs it on
the warehouse file, Spark mode on the events table copied to the table location.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from braze_assets import tables
from braze_assets.currents.ingest import EVENTS_COLUMNS
from braze_assets.engine.duckdb_engine import as_engine

TABLE = tables.ENGAGEMENT_ATTRIBUTES
EVENTS_TABLE = tables.CURRENTS_EVENTS

EMAIL_SEND = "users.messages.email.Send"
EMAIL_OPEN = "users.messages.email.Open"
EMAIL_CLICK = "users.messages.email.Click"
EMAIL_BOUNCE = "users.messages.email.Bounce"
EMAIL_SOFT_BOUNCE = "users.messages.email.SoftBounce"
EMAIL_UNSUBSCRIBE = "users.messages.email.Unsubscribe"
GLOBAL_STATE_CHANGE = "users.behaviors.subscription.GlobalStateChange"
CUSTOM_EVENT = "users.behaviors.CustomEvent"
PURCHASE = "users.behaviors.Purchase"
SESSION_START = "users.behaviors.app.SessionStart"

# {as_of}, {since_30d} and {since_90d} are instants (TIMESTAMPTZ literals with a UTC offset).
_SQL = f"""
WITH events AS (
    SELECT * FROM {EVENTS_TABLE} WHERE event_time <= {{as_of}}
),
links AS (
    SELECT user_id, arg_max(external_user_id, event_time) AS external_user_id
    FROM events
    WHERE user_id IS NOT NULL AND external_user_id IS NOT NULL
    GROUP BY user_id
),
attributed AS (
    SELECT coalesce(e.external_user_id, l.external_user_id) AS customer_key,
           e.user_id, e.event_type, e.event_time, e.extra,
           e.event_type = '{EMAIL_OPEN}' AND coalesce(e.extra->>'machine_open', '') <> 'true' AS human_open,
           (e.event_type = '{EMAIL_UNSUBSCRIBE}'
            OR (e.event_type = '{GLOBAL_STATE_CHANGE}'
                AND lower(e.extra->>'subscription_status') = 'unsubscribed'
                AND lower(coalesce(e.extra->>'channel', 'email')) = 'email')) AS unsubscribe,
           e.event_time > {{since_30d}} AS in_30d,
           e.event_time > {{since_90d}} AS in_90d
    FROM events e LEFT JOIN links l USING (user_id)
)
SELECT
    customer_key AS external_user_id,
    arg_max(user_id, event_time) FILTER (WHERE user_id IS NOT NULL) AS user_id,
    max(event_time) FILTER (WHERE human_open) AS last_email_open_at,
    max(event_time) FILTER (WHERE event_type = '{EMAIL_CLICK}') AS last_email_click_at,
    count(*) FILTER (WHERE event_type = '{EMAIL_SEND}' AND in_30d) AS email_sends_30d,
    count(*) FILTER (WHERE human_open AND in_30d) AS email_opens_30d,
    count(*) FILTER (WHERE human_open AND in_90d) AS email_opens_90d,
    count(*) FILTER (WHERE event_type = '{EMAIL_CLICK}' AND in_30d) AS email_clicks_30d,
    count(*) FILTER (WHERE event_type = '{EMAIL_CLICK}' AND in_90d) AS email_clicks_90d,
    count(*) FILTER (WHERE event_type = '{EMAIL_BOUNCE}') AS email_hard_bounces,
    count(*) FILTER (WHERE event_type = '{EMAIL_SOFT_BOUNCE}') AS email_soft_bounces,
    max(event_time) FILTER (WHERE event_type IN ('{EMAIL_BOUNCE}', '{EMAIL_SOFT_BOUNCE}')) AS last_email_bounce_at,
    count(*) FILTER (WHERE unsubscribe) AS email_unsubscribes,
    max(event_time) FILTER (WHERE unsubscribe) AS last_email_unsubscribe_at,
    count(*) FILTER (WHERE event_type = '{CUSTOM_EVENT}' AND in_30d) AS custom_events_30d,
    count(*) FILTER (WHERE event_type = '{CUSTOM_EVENT}' AND in_90d) AS custom_events_90d,
    max(event_time) FILTER (WHERE event_type = '{CUSTOM_EVENT}') AS last_custom_event_at,
    count(*) FILTER (WHERE event_type = '{PURCHASE}' AND in_30d) AS purchases_30d,
    count(*) FILTER (WHERE event_type = '{PURCHASE}' AND in_90d) AS purchases_90d,
    coalesce(sum(TRY_CAST(extra->>'price' AS DOUBLE)) FILTER (WHERE event_type = '{PURCHASE}' AND in_90d), 0)
        AS purchase_revenue_90d,
    max(event_time) FILTER (WHERE event_type = '{PURCHASE}') AS last_purchase_at,
    count(*) FILTER (WHERE event_type = '{SESSION_START}' AND in_30d) AS sessions_30d,
    count(*) FILTER (WHERE event_type = '{SESSION_START}' AND in_90d) AS sessions_90d,
    max(event_time) FILTER (WHERE event_type = '{SESSION_START}') AS last_session_at,
    max(event_time) AS last_event_at,
    {{as_of}} AS as_of
FROM attributed
WHERE customer_key IS NOT NULL
GROUP BY customer_key
ORDER BY customer_key
"""


def _instant(moment: datetime) -> str:
    return f"CAST('{moment.astimezone(UTC).isoformat(sep=' ')}' AS TIMESTAMPTZ)"


def build_engagement_attributes(engine, as_of: datetime) -> int:
    """Rebuild `engagement_attributes` from `currents_events` as of a moment; returns its row count.

    `engine` is an Engine (or a DuckDB connection, which is wrapped). The windows are 30 and 90
    days of 24 hours before `as_of`, computed here rather than in SQL: DuckDB subtracts a day
    interval from an instant in the session's zone, Spark in UTC."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC), got a naive datetime")
    engine = as_engine(engine)
    # No Currents loaded yet: an empty table of the right shape.
    engine.create_table(EVENTS_TABLE, EVENTS_COLUMNS)
    query = _SQL.format(
        as_of=_instant(as_of),
        since_30d=_instant(as_of - timedelta(days=30)),
        since_90d=_instant(as_of - timedelta(days=90)),
    )
    engine.write_table(TABLE, query)
    return engine.fetch(f"SELECT count(*) FROM {TABLE}")[0][0]
