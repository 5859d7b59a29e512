"""The columns of `customer_attribute_source`, known before any table exists.

The config is checked when the Dagster definitions load, long before identity, transactions or
engagement have written a table, so attribute mappings are validated against this static catalogue.
It mirrors the contracts in docs/architecture.md (customer 360 columns) and issues 4 and 7
(transaction and engagement attributes). It is the one place to update when a contract changes;
the builder fills a catalogue column that a real table lacks with typed NULLs and reports it.
"""

from __future__ import annotations

from collections.abc import Iterable

_MONEY = "DECIMAL(18,2)"

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
    "source_count": "INTEGER",
    "sources": "VARCHAR[]",
    "first_seen_at": "TIMESTAMP",
    "updated_at": "TIMESTAMP",
}

# Keyed by customer_id (issue 4: first/second/latest order, lifetime, windows, RFM, recency).
TRANSACTION_ATTRIBUTES: dict[str, str] = {
    "customer_id": "VARCHAR",
    "first_order_date": "DATE",
    "first_order_revenue": _MONEY,
    "second_order_date": "DATE",
    "second_order_revenue": _MONEY,
    "latest_order_date": "DATE",
    "latest_order_revenue": _MONEY,
    "lifetime_order_frequency": "BIGINT",
    "lifetime_order_revenue": _MONEY,
    "lifetime_average_order_value": _MONEY,
    "lifetime_largest_order_value": _MONEY,
    "one_and_done": "BOOLEAN",
    "early_repeat_purchaser": "BOOLEAN",
    "preferred_channel": "VARCHAR",
    "multichannel_purchaser": "BOOLEAN",
    "l30d_order_frequency": "BIGINT",
    "l30d_order_revenue": _MONEY,
    "l3m_order_frequency": "BIGINT",
    "l3m_order_revenue": _MONEY,
    "l12m_order_frequency": "BIGINT",
    "l12m_order_revenue": _MONEY,
    "l12m_recency_score": "INTEGER",
    "l12m_frequency_score": "INTEGER",
    "l12m_monetary_score": "INTEGER",
    "l12m_rfm_score": "INTEGER",
    "days_since_latest_order": "INTEGER",
}

# Keyed by external_user_id (= customer_360.external_id), from Braze Currents (issue 7).
ENGAGEMENT_ATTRIBUTES: dict[str, str] = {
    "external_user_id": "VARCHAR",
    "braze_id": "VARCHAR",
    "last_email_open_at": "TIMESTAMP",
    "last_email_click_at": "TIMESTAMP",
    "email_opens_30d": "BIGINT",
    "email_clicks_30d": "BIGINT",
    "email_opens_90d": "BIGINT",
    "email_clicks_90d": "BIGINT",
    "email_bounces": "BIGINT",
    "email_unsubscribes": "BIGINT",
    "custom_events": "BIGINT",
    "purchases": "BIGINT",
    "sessions": "BIGINT",
    "last_session_at": "TIMESTAMP",
}

TABLES: dict[str, dict[str, str]] = {
    "customer_360": CUSTOMER_360,
    "transaction_attributes": TRANSACTION_ATTRIBUTES,
    "engagement_attributes": ENGAGEMENT_ATTRIBUTES,
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
