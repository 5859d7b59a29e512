"""transaction_attributes on a hand-built warehouse: every attribute and every reported problem checked by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from braze_assets.attributes.catalogue import TRANSACTION_ATTRIBUTES
from braze_assets.config import ProjectConfig
from braze_assets.customer_360.transactions import (
    TransactionInputError,
    build_transaction_attributes,
)

AS_OF = datetime(2024, 6, 15)

CONFIG = ProjectConfig.model_validate(
    {
        "sources": [
            {
                "name": "shop",
                "path": "shop.csv",
                "primary_key": "account_id",
                "updated_at": "updated_at",
                "columns": {"email": "email"},
            },
            {
                "name": "store",
                "path": "store.csv",
                "primary_key": "pos_id",
                "updated_at": "updated_at",
                "columns": {"phone": "phone"},
            },
        ],
        "transactions": [
            {
                "name": "orders",
                "path": "orders.csv",
                "primary_key": "order_id",
                "source": "shop",
                "customer_key": "account_id",
                "ordered_at": "ordered_at",
                "revenue": "revenue",
                "items": "items",
                "channel": "channel",
            },
            {
                "name": "till",
                "path": "till.csv",
                "primary_key": "receipt",
                "source": "store",
                "customer_key": "pos_id",
                "ordered_at": "sold_at",
                "revenue": "amount",
                "items": "qty",
                "channel_value": "store",
            },
        ],
    }
)

# customer c1 has two web-shop accounts and a store card; P4 is a record identity held back (no id).
UNIFIED = [
    ("c1", "shop", "A1"),
    ("c1", "shop", "A2"),
    ("c1", "store", "P1"),
    ("c2", "shop", "A3"),
    ("c3", "store", "P2"),
    ("c4", "store", "P3"),
    (None, "store", "P4"),
]
# (order_id, account_id, ordered_at, channel, revenue, items); file rows 2.. (line 1 is the header)
ORDERS = [
    ("O1", "A1", "2023-01-10T10:00:00Z", "web", "100.00", "2"),  # row 2: c1 first
    ("O2", "A2", "2023-02-01 12:00:00", "APP ", "50.50", "1"),  # row 3: c1 second, 22 days later
    ("O3", "A1", "2024-04-01T00:00:00+02:00", "web", "10", "1"),  # row 4: = 2024-03-31 22:00 UTC
    ("O4", "A3", "2024-06-14 23:59:59", "web", "33.33", "1"),  # row 5: c2, ties with O5
    (
        "O5",
        "A3",
        "2024-06-14 23:59:59",
        "app",
        "33.33",
        "two",
    ),  # row 6: items junk, order still counts
    (
        "O6",
        "A3",
        "2023-06-15T00:00:00Z",
        "web",
        "0.01",
        "",
    ),  # row 7: exactly 12 months before as_of
    ("O7", "A1", "not a date", "web", "10.00", "1"),  # row 8: unparseable date
    ("O8", "A1", "2024-01-01", "web", "N/A", "1"),  # row 9: unparseable revenue
    ("O9", "A1", "2024-01-01", "web", "", "1"),  # row 10: missing revenue
    ("O10", "A9", "2024-01-01", "web", "10.00", "1"),  # row 11: orphan
    ("O1", "A1", "2024-05-05", "web", "999.00", "9"),  # row 12: repeated order id
    ("O11", "A1", "2024-07-01", "web", "10.00", "1"),  # row 13: after as_of
    ("O12", "", "2024-01-01", "web", "10.00", "1"),  # row 14: no customer key
]
# (receipt, pos_id, sold_at, amount, qty)
TILL = [
    ("T1", "P1", "2024-06-01 09:00:00", "20.25", "3"),  # row 2: c1 latest
    ("T2", "P2", "2022-01-01 10:00:00", "5", "1"),  # row 3: c3 only order
    ("T3", "P4", "2024-01-01 10:00:00", "10.00", "1"),  # row 4: record without customer id
    ("T4", "P2", "2024-13-45 10:00:00", "10.00", "1"),  # row 5: impossible date
    ("T5", "P2", "2024-01-01 10:00:00", "$12.00", "1"),  # row 6: currency text is not a number
    ("T6", " P3 ", "2019-01-01", "12.00", "1"),  # row 7: c4 (key with spaces), older than 12 months
]


def _raw(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple]) -> None:
    defs = ", ".join(f'"{c}" VARCHAR' for c in columns)
    con.execute(f"CREATE TABLE {table} ({defs}, _source_file VARCHAR, _row_number BIGINT)")
    if rows:
        con.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' * (len(columns) + 2))})",
            [(*r, f"{table}.csv", i + 2) for i, r in enumerate(rows)],
        )


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute(
        "CREATE TABLE unified_coalesced (customer_id VARCHAR, source VARCHAR, source_pk VARCHAR, email VARCHAR)"
    )
    connection.executemany("INSERT INTO unified_coalesced VALUES (?, ?, ?, NULL)", UNIFIED)
    _raw(
        connection,
        "raw_txn_orders",
        ["order_id", "account_id", "ordered_at", "channel", "revenue", "items"],
        ORDERS,
    )
    _raw(connection, "raw_txn_till", ["receipt", "pos_id", "sold_at", "amount", "qty"], TILL)
    yield connection
    connection.close()


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    cursor = con.execute("SELECT * FROM transaction_attributes ORDER BY customer_id")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_attributes_of_a_multi_source_repeat_customer(con) -> None:
    build_transaction_attributes(con, CONFIG, AS_OF)
    c1 = _rows(con)["c1"]
    assert c1 == c1 | {
        "first_order_at": datetime(2023, 1, 10, 10),
        "first_order_date": date(2023, 1, 10),
        "first_order_revenue": Decimal("100.00"),
        "first_order_items": 2,
        "first_order_channel": "web",
        "second_order_at": datetime(2023, 2, 1, 12),
        "second_order_date": date(2023, 2, 1),
        "second_order_revenue": Decimal("50.50"),
        "second_order_items": 1,
        "second_order_channel": "app",
        "latest_order_at": datetime(2024, 6, 1, 9),
        "latest_order_date": date(2024, 6, 1),
        "latest_order_revenue": Decimal("20.25"),
        "latest_order_items": 3,
        "latest_order_channel": "store",
        "lifetime_order_frequency": 4,
        "lifetime_order_revenue": Decimal("180.75"),
        "lifetime_average_order_value": Decimal("45.19"),  # 45.1875, half away from zero
        "lifetime_largest_order_value": Decimal("100.00"),
        "one_and_done": False,
        "early_repeat_purchaser": True,
        "preferred_channel": "web",
        "multichannel_purchaser": True,
        "l30d_order_frequency": 1,
        "l30d_order_revenue": Decimal("20.25"),
        "l3m_order_frequency": 2,
        "l3m_order_revenue": Decimal("30.25"),
        "l12m_order_frequency": 2,
        "l12m_order_revenue": Decimal("30.25"),
        "days_since_latest_order": 14,
    }


def test_ties_boundaries_and_junk_items(con) -> None:
    build_transaction_attributes(con, CONFIG, AS_OF)
    c2 = _rows(con)["c2"]
    assert c2 == c2 | {
        "first_order_at": datetime(2023, 6, 15),
        "first_order_revenue": Decimal("0.01"),
        "first_order_items": None,
        # Same timestamp: the lower order id comes first, the higher is the latest.
        "second_order_at": datetime(2024, 6, 14, 23, 59, 59),
        "second_order_channel": "web",
        "second_order_items": 1,
        "latest_order_at": datetime(2024, 6, 14, 23, 59, 59),
        "latest_order_channel": "app",
        "latest_order_items": None,
        "lifetime_order_frequency": 3,
        "lifetime_order_revenue": Decimal("66.67"),
        "lifetime_average_order_value": Decimal("22.22"),
        "lifetime_largest_order_value": Decimal("33.33"),
        "one_and_done": False,
        "early_repeat_purchaser": False,  # 365 days between first and second
        "preferred_channel": "web",
        "multichannel_purchaser": True,
        # The 12-month window is (as_of - 12 months, as_of]: an order exactly 12 months old is outside.
        "l30d_order_frequency": 2,
        "l30d_order_revenue": Decimal("66.66"),
        "l3m_order_frequency": 2,
        "l3m_order_revenue": Decimal("66.66"),
        "l12m_order_frequency": 2,
        "l12m_order_revenue": Decimal("66.66"),
        "days_since_latest_order": 1,
    }


def test_one_and_done_lapsed_customer_and_who_is_left_out(con) -> None:
    report = build_transaction_attributes(con, CONFIG, AS_OF)
    rows = _rows(con)
    assert set(rows) == {"c1", "c2", "c3", "c4"} and report.customers == 4
    c3 = rows["c3"]
    assert c3 == c3 | {
        "first_order_at": datetime(2022, 1, 1, 10),
        "first_order_revenue": Decimal("5.00"),
        "second_order_at": None,
        "second_order_revenue": None,
        "second_order_date": None,
        "latest_order_at": datetime(2022, 1, 1, 10),
        "lifetime_order_frequency": 1,
        "lifetime_average_order_value": Decimal("5.00"),
        "one_and_done": True,
        "early_repeat_purchaser": False,
        "preferred_channel": "store",
        "multichannel_purchaser": False,
        "l30d_order_frequency": 0,
        "l30d_order_revenue": Decimal("0.00"),
        "l12m_order_frequency": 0,
        "l12m_order_revenue": Decimal("0.00"),
        "l12m_recency_score": None,
        "l12m_frequency_score": None,
        "l12m_monetary_score": None,
        "l12m_rfm_score": None,
        "days_since_latest_order": 896,
    }
    assert rows["c4"]["first_order_date"] == date(2019, 1, 1)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'transaction_attributes'"
        ).fetchall()
    )
    money = [c for c in types if c.endswith(("_revenue", "_value"))]
    assert len(money) == 9 and {types[c] for c in money} == {"DECIMAL(18,2)"}


def test_rfm_scores_of_the_two_recent_customers(con) -> None:
    build_transaction_attributes(con, CONFIG, AS_OF)
    rows = _rows(con)
    # Two customers: NTILE(5) gives 1 and 2; equal 12-month frequencies share the lower score.
    scores = ("l12m_recency_score", "l12m_frequency_score", "l12m_monetary_score", "l12m_rfm_score")
    assert [rows["c1"][k] for k in scores] == [1, 1, 1, 111]
    assert [rows["c2"][k] for k in scores] == [2, 1, 2, 212]


def test_rfm_quintiles_over_ten_customers(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "CREATE TABLE unified_coalesced (customer_id VARCHAR, source VARCHAR, source_pk VARCHAR)"
    )
    con.executemany(
        "INSERT INTO unified_coalesced VALUES (?, 'shop', ?)",
        [(f"c{i:02d}", f"A{i}") for i in range(10)],
    )
    orders = []
    for i in range(10):
        # Customer i orders i+1 times, the last one i days ago... reversed so recency runs the other way.
        for k in range(i + 1):
            when = AS_OF - timedelta(days=10 - i, hours=k)
            orders.append(
                (f"O{i}-{k}", f"A{i}", when.isoformat(sep=" "), "web", f"{10 * (10 - i)}.00", "1")
            )
    _raw(
        con,
        "raw_txn_orders",
        ["order_id", "account_id", "ordered_at", "channel", "revenue", "items"],
        orders,
    )
    _raw(con, "raw_txn_till", ["receipt", "pos_id", "sold_at", "amount", "qty"], [])
    build_transaction_attributes(con, CONFIG, AS_OF)
    got = con.execute(
        "SELECT customer_id, l12m_order_revenue, l12m_recency_score, l12m_frequency_score, "
        "l12m_monetary_score FROM transaction_attributes ORDER BY customer_id"
    ).fetchall()
    # Revenue of customer i: (i+1) * 10 * (10-i) = 100, 180, 240, 280, 300, 300, 280, 240, 180, 100.
    assert [r[1] for r in got] == [
        Decimal(v) for v in (100, 180, 240, 280, 300, 300, 280, 240, 180, 100)
    ]
    assert [r[2] for r in got] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # more recent, higher
    assert [r[3] for r in got] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # more orders, higher
    # Sorted revenues 100,100,180,180,240,240,280,280,300,300 fall one pair per quintile.
    assert [r[4] for r in got] == [1, 2, 3, 4, 5, 5, 4, 3, 2, 1]
    con.close()


def test_junk_orphans_and_duplicates_are_reported_not_dropped(con) -> None:
    report = build_transaction_attributes(con, CONFIG, AS_OF)
    found = {(p.source, p.column, p.reason): (p.count, p.example_rows) for p in report.problems}
    assert found == {
        ("orders", "ordered_at", "unparseable"): (1, [8]),
        ("orders", "revenue", "unparseable"): (1, [9]),
        ("orders", "revenue", "missing"): (1, [10]),
        ("orders", "account_id", "orphan"): (1, [11]),
        ("orders", "order_id", "duplicate_id"): (1, [12]),
        ("orders", "ordered_at", "after_as_of"): (1, [13]),
        ("orders", "account_id", "missing"): (1, [14]),
        ("orders", "items", "unparseable"): (1, [6]),
        ("till", "pos_id", "unresolved_customer"): (1, [4]),
        ("till", "sold_at", "unparseable"): (1, [5]),
        ("till", "amount", "unparseable"): (1, [6]),
    }
    assert report.counts_by_reason == {
        "after_as_of": 1,
        "duplicate_id": 1,
        "missing": 2,
        "orphan": 1,
        "unparseable": 5,
        "unresolved_customer": 1,
    }
    assert report.orphans == {"orders": 1, "till": 0}
    assert report.rows_read == {"orders": 13, "till": 6}
    # Orders used: O1-O6 (the junk-items row still counts); till: T1, T2, T6.
    assert report.rows_used == {"orders": 6, "till": 3}
    assert report.metadata()["rows_excluded_orders"] == 7
    assert "orders.revenue: 1 unparseable (rows 9)" in {str(p) for p in report.problems}
    assert report.unusable_columns == []


def test_a_column_that_is_all_junk_is_called_out(con) -> None:
    con.execute("UPDATE raw_txn_till SET amount = 'n/a'")
    report = build_transaction_attributes(con, CONFIG, AS_OF)
    assert report.unusable_columns == ["till.amount (unparseable)"]
    assert report.rows_used["till"] == 0
    assert {p.example_rows == [2, 3, 4, 5, 6] for p in report.problems if p.column == "amount"} == {
        True
    }


def test_rerun_replaces_the_table_and_aware_as_of_is_utc(con) -> None:
    build_transaction_attributes(con, CONFIG, AS_OF)
    first = _rows(con)
    # 02:00 at UTC+2 is midnight UTC: the same instant, the same attributes.
    build_transaction_attributes(
        con, CONFIG, datetime(2024, 6, 15, 2, tzinfo=timezone(timedelta(hours=2)))
    )
    assert _rows(con) == first
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%txn%' AND temporary"
        ).fetchone()[0]
        == 0
    )


def test_missing_inputs_are_named(con) -> None:
    con.execute("ALTER TABLE raw_txn_till RENAME COLUMN amount TO total")
    with pytest.raises(
        TransactionInputError,
        match=r"'till': column 'amount' \(its revenue\) is not in raw_txn_till",
    ):
        build_transaction_attributes(con, CONFIG, AS_OF)
    con.execute("DROP TABLE raw_txn_till")
    with pytest.raises(TransactionInputError, match="table raw_txn_till does not exist"):
        build_transaction_attributes(con, CONFIG, AS_OF)
    con.execute("DROP TABLE unified_coalesced")
    with pytest.raises(TransactionInputError, match="unified_coalesced does not exist"):
        build_transaction_attributes(con, CONFIG, AS_OF)


def test_no_transaction_sources_gives_an_empty_table(con) -> None:
    config = CONFIG.model_copy(update={"transactions": []})
    report = build_transaction_attributes(con, config, AS_OF)
    assert report.customers == 0 and report.problems == [] and report.rows_read == {}
    columns = [r[0] for r in con.execute("DESCRIBE transaction_attributes").fetchall()]
    assert columns[0] == "customer_id" and "l12m_rfm_score" in columns


def test_columns_and_types_match_the_attributes_catalogue(con) -> None:
    build_transaction_attributes(con, CONFIG, AS_OF)
    built = {
        name: kind for name, kind, *_ in con.execute("DESCRIBE transaction_attributes").fetchall()
    }
    assert built == TRANSACTION_ATTRIBUTES
