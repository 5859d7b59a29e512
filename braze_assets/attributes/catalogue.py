"""The columns of `customer_attribute_source`, known before any table exists.

The config is checked when the Dagster definitions load, long before identity, transactions or
engagement have written a table, so attribute mappings are validated against this static catalogue.
It mirrors the contracts in docs/architecture.md (customer 360 columns) and issues 4 and 7
(transaction and engagement attributes). It is the one place to update when a contract changes;
the builder fills a catalogue column that a real table lacks with typed NULLs and reports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from braze_assets import tables

_MONEY = "DECIMAL(18,2)"

# As built by braze_assets/customer_360/profile.py.
CUSTOMER_360: dict[str, str] = {
    "customer_id": "VARCHAR",
    "external_id": "VARCHAR",
    "given_name": "VARCHAR",
    "surname": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "address_line1": "VARCHAR",
    "city": "VARCHAR",
    "state": "VARCHAR",
    "postal_code": "VARCHAR",
    "country": "VARCHAR",
    "birthdate": "DATE",
    "gender": "VARCHAR",
    "loyalty_id": "VARCHAR",
    "loyalty_tier": "VARCHAR",
    "source_count": "BIGINT",
    "sources": "VARCHAR[]",
    "record_count": "BIGINT",
    "first_seen_at": "TIMESTAMP",
    "updated_at": "TIMESTAMP",
}

# Keyed by customer_id (issue 4; as built by braze_assets/customer_360/transactions.py).
_ORDERS = {
    f"{nth}_order_{part}": duckdb_type
    for nth in ("first", "second", "latest")
    for part, duckdb_type in (
        ("date", "DATE"),
        ("at", "TIMESTAMP"),
        ("revenue", _MONEY),
        ("items", "INTEGER"),
        ("channel", "VARCHAR"),
    )
}
_WINDOWS = {
    f"{window}_order_{part}": duckdb_type
    for window in ("l30d", "l3m", "l12m")
    for part, duckdb_type in (("frequency", "BIGINT"), ("revenue", _MONEY))
}
TRANSACTION_ATTRIBUTES: dict[str, str] = {
    "customer_id": "VARCHAR",
    **_ORDERS,
    "lifetime_order_frequency": "BIGINT",
    "lifetime_order_revenue": _MONEY,
    "lifetime_average_order_value": _MONEY,
    "lifetime_largest_order_value": _MONEY,
    "one_and_done": "BOOLEAN",
    "early_repeat_purchaser": "BOOLEAN",
    "preferred_channel": "VARCHAR",
    "multichannel_purchaser": "BOOLEAN",
    **_WINDOWS,
    "l12m_recency_score": "INTEGER",
    "l12m_frequency_score": "INTEGER",
    "l12m_monetary_score": "INTEGER",
    "l12m_rfm_score": "INTEGER",
    "days_since_latest_order": "INTEGER",
}

# Keyed by external_user_id (= customer_360.external_id), from Braze Currents (issue 7; as built by
# braze_assets/engagement/attributes.py).
_COUNTS = (
    "email_sends_30d",
    "email_opens_30d",
    "email_opens_90d",
    "email_clicks_30d",
    "email_clicks_90d",
    "email_hard_bounces",
    "email_soft_bounces",
    "email_unsubscribes",
    "custom_events_30d",
    "custom_events_90d",
    "purchases_30d",
    "purchases_90d",
    "sessions_30d",
    "sessions_90d",
)
_MOMENTS = (
    "last_email_open_at",
    "last_email_click_at",
    "last_email_bounce_at",
    "last_email_unsubscribe_at",
    "last_custom_event_at",
    "last_purchase_at",
    "last_session_at",
    "last_event_at",
    "as_of",
)
ENGAGEMENT_ATTRIBUTES: dict[str, str] = {
    "external_user_id": "VARCHAR",
    "user_id": "VARCHAR",  # Braze's braze_id
    **{name: "BIGINT" for name in _COUNTS},
    "purchase_revenue_90d": "DOUBLE",
    **{name: "TIMESTAMPTZ" for name in _MOMENTS},
}

TABLES: dict[str, dict[str, str]] = {
    tables.CUSTOMER_360: CUSTOMER_360,
    tables.TRANSACTION_ATTRIBUTES: TRANSACTION_ATTRIBUTES,
    tables.ENGAGEMENT_ATTRIBUTES: ENGAGEMENT_ATTRIBUTES,
}


def source_columns(carried: Iterable[str] = ()) -> dict[str, str]:
    """Column -> DuckDB type of the view `customer_attribute_source`.

    `carried` names source columns tagged `attribute` in the sources config: the customer 360
    carries them as text under their own names. The first table defining a name wins, as in the view.
    """
    columns: dict[str, str] = {}
    for table in TABLES.values():
        for name, duckdb_type in table.items():
            columns.setdefault(name, duckdb_type)
    for name in carried:
        columns.setdefault(name, "VARCHAR")
    return columns
