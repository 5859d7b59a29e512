"""Which columns rule segments may use, and what kind of value each holds.

Segments are checked when the config loads, before any warehouse exists, so the column list is a
static catalogue of the view `customer_attribute_source` owned by `braze_assets.attributes`.
It is imported lazily because config models are imported while the attributes package loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

SOURCE_VIEW = "customer_attribute_source"
ID_COLUMN = "customer_id"


class Kind(str, Enum):
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIMESTAMP_TZ = "timestamp with time zone"
    TEXT_LIST = "list of text"
    OTHER = "other"


_NUMBER = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT\d+|FLOAT\d?|DOUBLE|REAL|DECIMAL(\(.*\))?|NUMERIC(\(.*\))?)$")


def kind_of(duckdb_type: str) -> Kind:
    """Classify a DuckDB type name (as `information_schema.columns.data_type` spells it)."""
    t = duckdb_type.strip().upper()
    if _NUMBER.match(t):
        return Kind.NUMBER
    if t in ("VARCHAR", "TEXT", "STRING", "UUID") or t.startswith("VARCHAR("):
        return Kind.TEXT
    if t in ("BOOLEAN", "BOOL"):
        return Kind.BOOLEAN
    if t == "DATE":
        return Kind.DATE
    if t in ("TIMESTAMP", "DATETIME", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return Kind.TIMESTAMP
    if t in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return Kind.TIMESTAMP_TZ
    if t in ("VARCHAR[]", "TEXT[]"):
        return Kind.TEXT_LIST
    return Kind.OTHER


# Used only while `braze_assets.attributes.catalogue` does not exist yet: the customer 360 columns
# of docs/architecture.md and the transaction / engagement attributes named in issues 4 and 7.
_ASSUMED_SOURCE_COLUMNS: dict[str, str] = {
    "customer_id": "VARCHAR", "external_id": "VARCHAR", "given_name": "VARCHAR", "surname": "VARCHAR",
    "email": "VARCHAR", "phone": "VARCHAR", "address_line1": "VARCHAR", "city": "VARCHAR",
    "state": "VARCHAR", "postal_code": "VARCHAR", "country": "VARCHAR", "birthdate": "DATE",
    "gender": "VARCHAR", "loyalty_id": "VARCHAR", "loyalty_tier": "VARCHAR", "source_count": "INTEGER",
    "sources": "VARCHAR[]", "first_seen_at": "TIMESTAMP", "updated_at": "TIMESTAMP",
    "first_order_at": "TIMESTAMP", "first_order_revenue": "DECIMAL(18,2)", "first_order_items": "INTEGER",
    "second_order_at": "TIMESTAMP", "second_order_revenue": "DECIMAL(18,2)", "second_order_items": "INTEGER",
    "latest_order_at": "TIMESTAMP", "latest_order_revenue": "DECIMAL(18,2)", "latest_order_items": "INTEGER",
    "lifetime_order_count": "INTEGER", "lifetime_revenue": "DECIMAL(18,2)",
    "lifetime_average_order_value": "DECIMAL(18,2)", "largest_order_revenue": "DECIMAL(18,2)",
    "one_and_done": "BOOLEAN", "early_repeat_purchaser": "BOOLEAN", "preferred_channel": "VARCHAR",
    "preferred_brand": "VARCHAR", "multi_channel": "BOOLEAN",
    "l30d_order_count": "INTEGER", "l30d_revenue": "DECIMAL(18,2)", "l3m_order_count": "INTEGER",
    "l3m_revenue": "DECIMAL(18,2)", "l12m_order_count": "INTEGER", "l12m_revenue": "DECIMAL(18,2)",
    "rfm_recency_score": "INTEGER", "rfm_frequency_score": "INTEGER", "rfm_monetary_score": "INTEGER",
    "days_since_latest_order": "INTEGER",
    "last_email_open_at": "TIMESTAMP", "last_email_click_at": "TIMESTAMP",
    "email_opens_30d": "INTEGER", "email_clicks_30d": "INTEGER", "email_opens_90d": "INTEGER",
    "email_clicks_90d": "INTEGER", "email_bounces": "INTEGER", "email_unsubscribed": "BOOLEAN",
    "custom_event_count": "INTEGER", "purchase_event_count": "INTEGER", "session_count": "INTEGER",
}


def catalogue_types() -> Mapping[str, str]:
    """Column -> DuckDB type of `customer_attribute_source`, from the attributes catalogue."""
    try:
        from braze_assets.attributes.catalogue import source_view_columns
    except ModuleNotFoundError as exc:
        if exc.name != "braze_assets.attributes.catalogue":
            raise
        return _ASSUMED_SOURCE_COLUMNS
    return source_view_columns()


def column_kinds(types: Mapping[str, str] | None = None) -> dict[str, Kind]:
    return {name: kind_of(t) for name, t in (catalogue_types() if types is None else types).items()}
