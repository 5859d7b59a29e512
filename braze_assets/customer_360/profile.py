"""`customer_360`: one row per customer, each field taken from the customer's best record.

"Best" is source priority then recency (or the reverse, per field, from the identity config);
fields of a group such as the address are taken together from one record so a street never
meets another record's postal code.
"""

from __future__ import annotations

from dataclasses import dataclass

from braze_assets import tables
from braze_assets.config.model import ProjectConfig
from braze_assets.config.sources import ATTRIBUTE_TAG
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.identity.cluster import TABLE as COALESCED
from braze_assets.identity.config import IdentityConfig
from braze_assets.warehouse import quote

TABLE = tables.CUSTOMER_360
# customer 360 column -> unified_coalesced column it is taken from (display forms where they exist).
FIELDS = {
    "external_id": "external_id",
    "given_name": "given_name_display",
    "surname": "surname_display",
    "email": "email_display",
    "phone": "phone",
    "address_line1": "address_line1",
    "city": "city",
    "state": "state",
    "postal_code": "postal_code",
    "country": "country",
    "birthdate": "birthdate",
    "gender": "gender",
    "loyalty_id": "loyalty_id",
}
DISPLAY_CASED = ("address_line1", "city")
# The 360's own columns after the person fields: summaries of the customer's records.
_SUMMARY_COLUMNS = (
    "loyalty_tier",
    "source_count",
    "sources",
    "record_count",
    "first_seen_at",
    "updated_at",
)
_RANKS = {"priority_then_recency": "rank_priority", "recency_then_priority": "rank_recency"}


@dataclass(frozen=True)
class Customer360Report:
    customers: int
    filled: dict[str, int]


def _carried_sql(config: ProjectConfig, con: Engine) -> tuple[str | None, list[str]]:
    """Every source's attribute-tagged columns, keyed by record, so the 360 can carry them.

    A column name the 360 already uses for a person field is not carried (it would shadow it).
    """
    reserved = {*FIELDS, "customer_id", *_SUMMARY_COLUMNS}
    selected: list[tuple[str, str, list[str]]] = []
    names: list[str] = []
    for source in config.sources:
        table = f"raw_{source.name}"
        if not con.table_exists(table):
            continue
        present = con.columns(table)
        columns = [
            c
            for c, tag in source.columns.items()
            if tag == ATTRIBUTE_TAG and c in present and c not in reserved
        ]
        if not columns:
            continue
        key = f"CAST({quote(source.primary_key)} AS VARCHAR)"
        selected.append((f"SELECT '{source.name}' AS source, {key} AS source_pk", table, columns))
        names.extend(c for c in columns if c not in names)
    # DuckDB's UNION ALL BY NAME spelled out (NULL where a source lacks a column): Spark SQL has
    # no BY NAME, and the rows are the same.
    parts = [
        head
        + "".join(
            f", NULLIF(trim(CAST({quote(c)} AS VARCHAR)), '') AS {quote(c)}"
            if c in columns
            else f", CAST(NULL AS VARCHAR) AS {quote(c)}"
            for c in names
        )
        + f" FROM {quote(table)}"
        for head, table, columns in selected
    ]
    return (" UNION ALL ".join(parts) or None), names


def _display_case(expression: str) -> str:
    # Matching compares upper-cased addresses; profiles show them the way people write them.
    # substring rather than DuckDB's w[1] / w[2:] (the same characters) so Spark reads it too.
    return (
        f"array_to_string(list_transform(string_split(lower({expression}), ' '), "
        f"w -> upper(substring(w, 1, 1)) || substring(w, 2)), ' ')"
    )


def build_customer_360(con, config: ProjectConfig, identity: IdentityConfig) -> Customer360Report:
    """Rewrite customer_360 on an Engine (or a DuckDB connection, which is wrapped)."""
    con = as_engine(con)
    if not con.table_exists(COALESCED):
        raise ValueError(f"{COALESCED} is missing; run identity resolution first")
    rules = identity.survivorship
    carried_sql, carried = _carried_sql(config, con)
    tier_column = rules.loyalty_tier_column
    present = set(con.columns(COALESCED))
    grouped = {f: name for name, fields in rules.groups.items() for f in fields}
    selects = []
    for name, fields in rules.groups.items():
        fields = [f for f in fields if f in FIELDS and FIELDS[f] in present]
        if not fields:
            continue
        rank = _RANKS[rules.field_order.get(fields[0], rules.order)]
        packed = ", ".join(f"{quote(f)} := {quote(FIELDS[f])}" for f in fields)
        anyset = " OR ".join(f"{quote(FIELDS[f])} IS NOT NULL" for f in fields)
        selects.append(
            f"arg_min(struct_pack({packed}), {rank}) FILTER (WHERE {anyset}) AS {quote('group_' + name)}"
        )
    for field, source_column in FIELDS.items():
        if field in grouped:
            continue
        rank = _RANKS[rules.field_order.get(field, rules.order)]
        value = quote(source_column) if source_column in present else "NULL"
        selects.append(
            f"arg_min({value}, {rank}) FILTER (WHERE {value} IS NOT NULL) AS {quote(field)}"
        )
    tier = quote(tier_column) if tier_column in carried else "CAST(NULL AS VARCHAR)"
    selects.append(
        f"arg_min({tier}, rank_recency) FILTER (WHERE {tier} IS NOT NULL) AS loyalty_tier"
    )
    selects.extend(
        f"arg_min({quote(c)}, rank_recency) FILTER (WHERE {quote(c)} IS NOT NULL) AS {quote(c)}"
        for c in carried
    )
    group_columns = [
        f
        for name in rules.groups
        for f in rules.groups[name]
        if f in FIELDS and FIELDS[f] in present
    ]

    def shown(field: str) -> str:
        value = (
            f"g.{quote('group_' + grouped[field])}.{quote(field)}"
            if field in group_columns
            else "CAST(NULL AS VARCHAR)"
            if field in grouped
            else quote(field)
        )
        return f"{_display_case(value) if field in DISPLAY_CASED else value} AS {quote(field)}"

    outer = [
        "customer_id",
        *map(shown, FIELDS),
        *_SUMMARY_COLUMNS,
        *map(quote, carried),
    ]
    carried_join = f"LEFT JOIN ({carried_sql}) t USING (source, source_pk)" if carried_sql else ""
    con.write_table(
        TABLE,
        f"""
        WITH ranked AS (
            SELECT c.*{"".join(", t." + quote(col) for col in carried)},
                   row_number() OVER (PARTITION BY customer_id ORDER BY priority, updated_at DESC NULLS LAST, record_id) AS rank_priority,
                   row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST, priority, record_id) AS rank_recency
            FROM {COALESCED} c {carried_join}
        ),
        g AS (
            SELECT customer_id, {", ".join(selects)},
                   count(DISTINCT source) AS source_count, list_sort(list(DISTINCT source)) AS sources,
                   count(*) AS record_count, min(updated_at) AS first_seen_at, max(updated_at) AS updated_at
            FROM ranked GROUP BY customer_id
        )
        SELECT {", ".join(outer)} FROM g ORDER BY customer_id
    """,
    )
    counts = con.fetch(
        f"SELECT count(*), {', '.join(f'count({quote(f)})' for f in [*FIELDS, 'loyalty_tier'])} FROM {TABLE}"
    )[0]
    return Customer360Report(
        customers=counts[0], filled=dict(zip([*FIELDS, "loyalty_tier"], counts[1:]))
    )
