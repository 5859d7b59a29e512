"""Per-customer engagement from Currents events, back into the customer 360.

Customers are linked through `external_user_id`. Events that carry only Braze's `user_id` are
attributed too once any event links that `user_id` to an `external_user_id` (the most recent link
wins), so the table is rebuilt in full each time: a link learned today re-attributes old events.
Machine opens (e.g. Apple Mail Privacy Protection, `machine_open = 'true'`) are not counted as opens
because no person opened anything.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from braze_assets import tables
from braze_assets.currents.ingest import ensure_tables

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

_SQL = f"""
CREATE OR REPLACE TABLE {TABLE} AS
WITH events AS (
    SELECT * FROM {EVENTS_TABLE} WHERE event_time <= $as_of
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
           e.event_time > $as_of - INTERVAL 30 DAY AS in_30d,
           e.event_time > $as_of - INTERVAL 90 DAY AS in_90d
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
    $as_of::TIMESTAMPTZ AS as_of
FROM attributed
WHERE customer_key IS NOT NULL
GROUP BY customer_key
ORDER BY customer_key
"""


def build_engagement_attributes(con: duckdb.DuckDBPyConnection, as_of: datetime) -> int:
    """Rebuild `engagement_attributes` from `currents_events` as of a moment; returns its row count."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC), got a naive datetime")
    ensure_tables(con)
    con.execute(_SQL, {"as_of": as_of})
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
