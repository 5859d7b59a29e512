"""`transaction_attributes`: one row per customer with orders, computed in DuckDB from the raw files.

Orders and store transactions arrive as text (`raw_txn_<name>`). Each row is linked to a customer
through the source record it names (`customer_key` = that source's primary key, looked up in
`unified_coalesced`). Rows that cannot be used (missing or unparseable dates and revenue, unknown
customer keys, repeated ids, dates after `as_of`) are left out of every aggregate and counted in the
report by transaction source, column and reason, with example row numbers, so nothing disappears
silently. Money stays exact: DECIMAL(18,2) throughout, averages rounded half away from zero.

RFM scores are computed over the customers with an order in the last 12 months (hence the `l12m_`
names): NTILE(5) over latest order time, 12-month order count and 12-month revenue, where equal
values share the lowest score of their group so that two identical customers never score
differently. `l12m_rfm_score` is the classic cell code R*100 + F*10 + M (e.g. 545).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from braze_assets import tables
from braze_assets.config import ProjectConfig
from braze_assets.config.sources import TransactionSourceConfig
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.warehouse import quote, quote_literal

TABLE = tables.TRANSACTION_ATTRIBUTES
UNIFIED = tables.UNIFIED_COALESCED
EXAMPLES = 5
MONEY = "DECIMAL(18,2)"

# Reasons a row (or one of its values) is not used as given.
MISSING = "missing"
UNPARSEABLE = "unparseable"
AFTER_AS_OF = "after_as_of"
ORPHAN = "orphan"  # the customer key names no record of the linked source
UNRESOLVED = "unresolved_customer"  # the record exists but identity gave it no customer id
DUPLICATE_ID = "duplicate_id"

# A row feeds the aggregates only when all of this holds; everything else is in the report.
_USABLE = (
    "customer_id IS NOT NULL AND ordered_at IS NOT NULL AND ordered_at <= {as_of} "
    "AND revenue IS NOT NULL AND NOT repeated_id"
)

_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?$"
_INTEGER = r"^[+-]?[0-9]+$"
_OFFSET = r"(Z|z|[+-][0-9]{2}:?[0-9]{2})$"


class TransactionInputError(ValueError):
    """A raw transaction table or the identity table is missing or lacks a declared column."""


@dataclass(frozen=True)
class TransactionProblem:
    source: str  # transaction source name (config `transactions[].name`)
    column: str  # the file's column name
    reason: str
    count: int
    example_rows: list[int]  # `_row_number`s: 1-based lines of the file

    def __str__(self) -> str:
        rows = ", ".join(map(str, self.example_rows))
        return f"{self.source}.{self.column}: {self.count} {self.reason} (rows {rows})"


@dataclass(frozen=True)
class TransactionReport:
    as_of: datetime
    rows_read: dict[str, int]
    rows_used: dict[str, int]
    customers: int
    problems: list[TransactionProblem] = field(default_factory=list)

    @property
    def counts_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.reason] = counts.get(p.reason, 0) + p.count
        return dict(sorted(counts.items()))

    @property
    def orphans(self) -> dict[str, int]:
        return {
            name: sum(p.count for p in self.problems if p.source == name and p.reason == ORPHAN)
            for name in self.rows_read
        }

    @property
    def unusable_columns(self) -> list[str]:
        """`source.column` where every row has the problem: a wrong mapping, not noise; worth failing a check."""
        return sorted(
            f"{p.source}.{p.column} ({p.reason})"
            for p in self.problems
            if p.reason != DUPLICATE_ID and p.count == self.rows_read.get(p.source) and p.count > 0
        )

    def metadata(self) -> dict[str, object]:
        """Flat numbers for asset metadata, so the UI can plot them over runs."""
        return {
            "customers": self.customers,
            "rows_read": sum(self.rows_read.values()),
            "rows_used": sum(self.rows_used.values()),
            **{
                f"rows_excluded_{name}": self.rows_read[name] - self.rows_used[name]
                for name in self.rows_read
            },
            **{f"problem_{reason}": n for reason, n in self.counts_by_reason.items()},
        }


def _literal(value: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if value is None else quote_literal(value)


def _staged(txn: TransactionSourceConfig, con: Engine) -> str:
    """SELECT of one raw table in a common shape: raw text next to parsed values."""
    table = f"raw_txn_{txn.name}"
    if not con.table_exists(table):
        raise TransactionInputError(
            f"transaction source {txn.name!r}: table {table} does not exist (load {txn.location} first)"
        )
    present = con.columns(table)
    declared = {
        "primary_key": txn.primary_key,
        "customer_key": txn.customer_key,
        "ordered_at": txn.ordered_at,
        "revenue": txn.revenue,
        "items": txn.items,
        "channel": txn.channel,
    }
    for role, column in declared.items():
        if column is not None and column not in present:
            raise TransactionInputError(
                f"transaction source {txn.name!r}: column {column!r} (its {role}) is not in {table}; "
                f"it has {', '.join(c for c in present if not c.startswith('_'))}"
            )

    def text(column: str | None) -> str:
        return (
            f"NULLIF(trim(CAST({quote(column)} AS VARCHAR)), '')"
            if column
            else "CAST(NULL AS VARCHAR)"
        )

    channel = text(txn.channel) if txn.channel else _literal(txn.channel_value)
    return f"""
        SELECT {_literal(txn.name)} AS txn_source, {_literal(txn.source)} AS record_source, _row_number,
               {text(txn.primary_key)} AS txn_id, {text(txn.customer_key)} AS customer_key,
               {text(txn.ordered_at)} AS ordered_at_raw, {text(txn.revenue)} AS revenue_raw,
               {text(txn.items)} AS items_raw, lower({channel}) AS channel
        FROM {quote(table)}"""


def _parse_sql() -> str:
    # Hash aggregates and joins, not windows: at millions of rows a sort per window dominates.
    return f"""
        WITH repeated AS (
            SELECT txn_source, txn_id, min(_row_number) AS first_row FROM _txn_raw
            WHERE txn_id IS NOT NULL GROUP BY ALL HAVING count(*) > 1
        ),
        links AS (SELECT source, source_pk, min(customer_id) AS customer_id FROM {UNIFIED} GROUP BY ALL)
        SELECT s.*,
            CASE WHEN regexp_matches(ordered_at_raw, '{_OFFSET}')
                 THEN TRY_CAST(ordered_at_raw AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
                 ELSE TRY_CAST(ordered_at_raw AS TIMESTAMP) END AS ordered_at,
            CASE WHEN regexp_matches(revenue_raw, '{_NUMBER}') THEN TRY_CAST(revenue_raw AS {MONEY}) END AS revenue,
            CASE WHEN regexp_matches(items_raw, '{_INTEGER}') THEN TRY_CAST(items_raw AS INTEGER) END AS items,
            m.customer_id, m.source_pk IS NOT NULL AS record_found,
            coalesce(s._row_number > r.first_row, false) AS repeated_id
        FROM _txn_raw s
        LEFT JOIN links m ON m.source = s.record_source AND m.source_pk = s.customer_key
        LEFT JOIN repeated r ON r.txn_source = s.txn_source AND r.txn_id = s.txn_id
    """


def _problem_sql(txns: list[TransactionSourceConfig], as_of: str) -> str:
    parts = []
    for t in txns:
        checks = [
            (t.primary_key, MISSING, "txn_id IS NULL"),
            (t.primary_key, DUPLICATE_ID, "repeated_id"),
            (t.customer_key, MISSING, "customer_key IS NULL"),
            (t.customer_key, ORPHAN, "customer_key IS NOT NULL AND NOT record_found"),
            (t.customer_key, UNRESOLVED, "record_found AND customer_id IS NULL"),
            (t.ordered_at, MISSING, "ordered_at_raw IS NULL"),
            (t.ordered_at, UNPARSEABLE, "ordered_at_raw IS NOT NULL AND ordered_at IS NULL"),
            (t.ordered_at, AFTER_AS_OF, f"ordered_at > {as_of}"),
            (t.revenue, MISSING, "revenue_raw IS NULL"),
            (t.revenue, UNPARSEABLE, "revenue_raw IS NOT NULL AND revenue IS NULL"),
        ]
        if t.items:
            checks.append((t.items, UNPARSEABLE, "items_raw IS NOT NULL AND items IS NULL"))
        for column, reason, condition in checks:
            parts.append(
                f"SELECT {_literal(t.name)} AS txn_source, {_literal(column)} AS column_name, "
                f"'{reason}' AS reason, _row_number "
                f"FROM _txn_parsed WHERE txn_source = {_literal(t.name)} AND ({condition})"
            )
    return " UNION ALL ".join(parts)


_WINDOWS = {"l30d": "INTERVAL 30 DAY", "l3m": "INTERVAL 3 MONTH", "l12m": "INTERVAL 12 MONTH"}
_PER_CUSTOMER = [
    "customer_id",
    "lifetime_order_frequency",
    "lifetime_sum",
    "lifetime_largest_order_value",
    "channels",
    *(f"{name}_order_{what}" for name in _WINDOWS for what in ("frequency", "revenue")),
]


def _attributes_sql(as_of: str) -> str:
    window = _WINDOWS
    windowed = ",\n".join(
        f"count(*) FILTER (WHERE ordered_at > {as_of} - {w}) AS {name}_order_frequency,\n"
        f"CAST(coalesce(sum(revenue) FILTER (WHERE ordered_at > {as_of} - {w}), 0) AS {MONEY}) AS {name}_order_revenue"
        for name, w in window.items()
    )
    order = "{'at': ordered_at, 'revenue': revenue, 'items': items, 'channel': channel}"
    return f"""
    WITH valid AS (
        SELECT customer_id, ordered_at, revenue, items, channel,
            -- One total order per customer: time, then source, id and line break ties reproducibly.
            (ordered_at, txn_source, coalesce(txn_id, ''), _row_number) AS sort_key
        FROM _txn_parsed WHERE {_USABLE.format(as_of=as_of)}
    ),
    per_customer AS (
        SELECT customer_id,
            min_by({order}, sort_key, 2) AS firsts,
            max_by({order}, sort_key) AS latest,
            count(*) AS lifetime_order_frequency,
            CAST(sum(revenue) AS DECIMAL(38,2)) AS lifetime_sum,
            CAST(max(revenue) AS {MONEY}) AS lifetime_largest_order_value,
            count(DISTINCT channel) AS channels,
            {windowed}
        FROM valid GROUP BY customer_id
    ),
    ordered AS (
        -- per_customer's columns but the two lists, named (Spark SQL has no * EXCLUDE).
        SELECT {", ".join(_PER_CUSTOMER)},
            firsts[1].at AS first_order_at, firsts[1].revenue AS first_order_revenue,
            firsts[1].items AS first_order_items, firsts[1].channel AS first_order_channel,
            firsts[2].at AS second_order_at, firsts[2].revenue AS second_order_revenue,
            firsts[2].items AS second_order_items, firsts[2].channel AS second_order_channel,
            latest.at AS latest_order_at, latest.revenue AS latest_order_revenue,
            latest.items AS latest_order_items, latest.channel AS latest_order_channel
        FROM per_customer
    ),
    channel_rank AS (
        SELECT customer_id, channel,
            row_number() OVER (PARTITION BY customer_id
                               ORDER BY count(*) DESC, sum(revenue) DESC, max(ordered_at) DESC, channel) AS pick
        FROM valid WHERE channel IS NOT NULL GROUP BY customer_id, channel
    ),
    cents AS (
        SELECT *, CAST(lifetime_sum * 100 AS HUGEINT) AS sum_cents FROM ordered
    ),
    rfm_base AS (
        SELECT customer_id,
            NTILE(5) OVER (ORDER BY latest_order_at, customer_id) AS r_tile,
            NTILE(5) OVER (ORDER BY l12m_order_frequency, customer_id) AS f_tile,
            NTILE(5) OVER (ORDER BY l12m_order_revenue, customer_id) AS m_tile,
            latest_order_at, l12m_order_frequency, l12m_order_revenue
        FROM ordered WHERE l12m_order_frequency > 0
    ),
    rfm AS (
        SELECT customer_id,
            min(r_tile) OVER (PARTITION BY latest_order_at) AS r,
            min(f_tile) OVER (PARTITION BY l12m_order_frequency) AS f,
            min(m_tile) OVER (PARTITION BY l12m_order_revenue) AS m
        FROM rfm_base
    )
    SELECT c.customer_id,
        CAST(first_order_at AS DATE) AS first_order_date, first_order_at,
        CAST(first_order_revenue AS {MONEY}) AS first_order_revenue, first_order_items, first_order_channel,
        CAST(second_order_at AS DATE) AS second_order_date, second_order_at,
        CAST(second_order_revenue AS {MONEY}) AS second_order_revenue, second_order_items, second_order_channel,
        CAST(latest_order_at AS DATE) AS latest_order_date, latest_order_at,
        CAST(latest_order_revenue AS {MONEY}) AS latest_order_revenue, latest_order_items, latest_order_channel,
        lifetime_order_frequency,
        CAST(lifetime_sum AS {MONEY}) AS lifetime_order_revenue,
        CAST(CAST(sign(sum_cents) * ((2 * abs(sum_cents) + lifetime_order_frequency) // (2 * lifetime_order_frequency))
                  AS DECIMAL(38,0)) * CAST(0.01 AS DECIMAL(3,2)) AS {MONEY}) AS lifetime_average_order_value,
        lifetime_largest_order_value,
        lifetime_order_frequency = 1 AS one_and_done,
        coalesce(second_order_at <= first_order_at + INTERVAL 90 DAY, false) AS early_repeat_purchaser,
        ch.channel AS preferred_channel,
        channels > 1 AS multichannel_purchaser,
        l30d_order_frequency, l30d_order_revenue, l3m_order_frequency, l3m_order_revenue,
        l12m_order_frequency, l12m_order_revenue,
        CAST(rfm.r AS INTEGER) AS l12m_recency_score,
        CAST(rfm.f AS INTEGER) AS l12m_frequency_score,
        CAST(rfm.m AS INTEGER) AS l12m_monetary_score,
        CAST(rfm.r * 100 + rfm.f * 10 + rfm.m AS INTEGER) AS l12m_rfm_score,
        CAST(date_diff('day', CAST(latest_order_at AS DATE), CAST({as_of} AS DATE)) AS INTEGER) AS days_since_latest_order
    FROM cents c
    LEFT JOIN channel_rank ch ON ch.customer_id = c.customer_id AND ch.pick = 1
    LEFT JOIN rfm ON rfm.customer_id = c.customer_id
    ORDER BY c.customer_id
    """


def _check_unified(con: Engine) -> None:
    if not con.table_exists(UNIFIED):
        raise TransactionInputError(
            f"table {UNIFIED} does not exist; identity resolution must run first"
        )
    missing = {"customer_id", "source", "source_pk"} - set(con.columns(UNIFIED))
    if missing:
        raise TransactionInputError(f"table {UNIFIED} lacks column(s) {', '.join(sorted(missing))}")


def build_transaction_attributes(con, config: ProjectConfig, as_of: datetime) -> TransactionReport:
    """(Re)write `transaction_attributes` from `raw_txn_*` and `unified_coalesced`; report what was left out.

    `con` is an Engine (or a DuckDB connection, which is wrapped). Times without an offset are
    taken as UTC; an aware `as_of` is converted to UTC.
    """
    con = as_engine(con)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    at = f"TIMESTAMP '{as_of.isoformat(sep=' ')}'"
    _check_unified(con)
    txns = list(config.transactions)
    raw = " UNION ALL ".join(_staged(t, con) for t in txns) or (
        # No transaction sources configured: an empty table with the right shape.
        "SELECT * FROM (VALUES (NULL::VARCHAR, NULL::VARCHAR, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR, "
        "NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)) AS t(txn_source, record_source, _row_number, "
        "txn_id, customer_key, ordered_at_raw, revenue_raw, items_raw, channel) WHERE false"
    )
    con.create_temp("_txn_raw", raw)
    con.create_temp("_txn_parsed", _parse_sql())
    problems: list[TransactionProblem] = []
    if txns:
        rows = con.fetch(f"""
            SELECT txn_source, column_name, reason, count(*) AS n, min_by(_row_number, _row_number, {EXAMPLES})
            FROM ({_problem_sql(txns, at)}) GROUP BY ALL ORDER BY txn_source, column_name, reason""")
        problems = [TransactionProblem(s, c, r, n, list(ex)) for s, c, r, n, ex in rows]
    con.write_table(TABLE, _attributes_sql(at))
    read = dict(con.fetch("SELECT txn_source, count(*) FROM _txn_raw GROUP BY 1"))
    used = dict(
        con.fetch(
            f"SELECT txn_source, count(*) FROM _txn_parsed WHERE {_USABLE.format(as_of=at)} GROUP BY 1"
        )
    )
    customers = con.fetch(f"SELECT count(*) FROM {TABLE}")[0][0]
    con.drop_temp("_txn_raw")
    con.drop_temp("_txn_parsed")
    return TransactionReport(
        as_of=as_of,
        rows_read={t.name: read.get(t.name, 0) for t in txns},
        rows_used={t.name: used.get(t.name, 0) for t in txns},
        customers=customers,
        problems=problems,
    )
