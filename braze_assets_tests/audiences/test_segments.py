"""Every operator, nested groups and member_of, checked against hand-computed rows of conftest.ROWS."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from braze_assets.audiences import compile_segment, evaluate_audience, open_read_only

from .conftest import AS_OF, COLUMNS, load, segments


def members(warehouse, audiences, name="s") -> list[str]:
    """Compiled against the column types the warehouse reports, as in production."""
    con = open_read_only(warehouse)
    try:
        return sorted(evaluate_audience(con, name, audiences, AS_OF)["customer_id"])
    finally:
        con.close()


CASES = [
    ("loyalty_tier", "=", "gold", ["c1", "c4"]),
    (
        "loyalty_tier",
        "!=",
        "gold",
        ["c2", "c3", "c5", "c6", "c7", "c8"],
    ),  # missing tier counts as "not gold"
    ("l12m_revenue", "<", 300, ["c3", "c5", "c8"]),
    ("l12m_revenue", "<=", 300, ["c2", "c3", "c5", "c8"]),
    ("l12m_revenue", ">", 640.5, ["c1", "c6"]),
    ("l12m_revenue", ">=", 640.5, ["c1", "c4", "c6"]),
    ("order_count", ">", 10, ["c1", "c6"]),
    ("one_and_done", "=", True, ["c4", "c5", "c8"]),
    ("latest_order_at", "=", "2024-06-01T00:00:00", ["c7"]),
    ("birthdate", "<", date(1976, 1, 1), ["c4", "c8"]),
    ("loyalty_tier", "in", ["gold", "platinum"], ["c1", "c4", "c6"]),
    ("loyalty_tier", "not in", ["gold", "platinum"], ["c2", "c3", "c5", "c7", "c8"]),
    ("l12m_revenue", "between", [80, 640.5], ["c2", "c4", "c5", "c8"]),
    ("birthdate", "between", ["1980-01-01", "1995-12-31"], ["c1", "c2", "c6", "c7"]),
    ("email", "is null", None, ["c3"]),
    ("city", "is not null", None, ["c1", "c2", "c3", "c4", "c5", "c7", "c8"]),
    ("email", "contains", "example.com", ["c1", "c4", "c6", "c8"]),
    ("sources", "contains", "loyalty", ["c1", "c4", "c6", "c7"]),
    ("email", "starts with", "b", ["c2"]),
    ("email", "Starts_With", "b", ["c2"]),
    # as of 2024-06-15 00:00: orders from 2024-05-16 00:00 on
    ("latest_order_at", "within last days", 30, ["c1", "c2", "c6", "c7"]),
    # a DATE column: 2024-06-01 .. 2024-06-15, both ends included
    ("signup_date", "within last days", 14, ["c1", "c5"]),
]


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_every_operator_selects_the_right_rows(warehouse, column, op, value, expected):
    audiences = segments(s={"column": column, "op": op, "value": value})
    assert members(warehouse, audiences) == expected


def test_values_are_parameters_never_sql_text():
    compiled = compile_segment(
        "s", segments(s={"column": "email", "op": "in", "value": ["a'b", "c"]}), COLUMNS
    )
    assert "a'b" not in compiled.sql and compiled.params == ["a'b", "c"]
    assert compiled.sql.count("?") == len(compiled.params)


def test_nested_all_and_any_groups(warehouse):
    audiences = segments(
        s={
            "all": [
                {"column": "city", "op": "=", "value": "Boston"},
                {
                    "any": [
                        {"column": "loyalty_tier", "op": "=", "value": "gold"},
                        {"column": "l12m_revenue", "op": "<", "value": 200},
                    ]
                },
            ]
        }
    )
    assert members(warehouse, audiences) == ["c1", "c8"]


def test_member_of_merges_parameters_in_order(warehouse):
    audiences = load(
        {
            "segments": [
                {
                    "name": "big_spenders",
                    "where": {"column": "l12m_revenue", "op": ">=", "value": 600},
                },
                {
                    "name": "s",
                    "where": {
                        "all": [
                            {"column": "city", "op": "=", "value": "Austin"},
                            {"member_of": "big_spenders"},
                            {"column": "loyalty_tier", "op": "!=", "value": "silver"},
                        ]
                    },
                },
            ]
        }
    )
    compiled = compile_segment("s", audiences, COLUMNS)
    assert compiled.params == ["Austin", 600, "silver"]
    assert members(warehouse, audiences, "big_spenders") == ["c1", "c4", "c6"]
    assert members(warehouse, audiences) == ["c4"]


def test_member_of_a_sql_audience(warehouse):
    audiences = load(
        {
            "sql_audiences": [
                {
                    "name": "bostonians",
                    "sql": "SELECT customer_id FROM customer_360\nWHERE city = 'Boston';",
                }
            ],
            "segments": [
                {
                    "name": "s",
                    "where": {
                        "all": [
                            {"member_of": "bostonians"},
                            {"column": "one_and_done", "op": "=", "value": False},
                        ]
                    },
                }
            ],
        }
    )
    assert members(warehouse, audiences) == ["c1", "c2"]


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("=", "x'; DROP TABLE customer_360; --"),
        ("in", ["x') OR 1=1 --", "'; DELETE FROM customer_360; --"]),
        ("contains", "%' OR '1'='1"),
        ("starts with", "'); DROP TABLE customer_attribute_source; --"),
    ],
)
def test_injection_attempts_in_values_are_inert(warehouse, op, value):
    audiences = segments(s={"column": "email", "op": op, "value": value})
    assert members(warehouse, audiences) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customer_360").fetchone()[0] == 8
        assert con.execute("SELECT count(*) FROM customer_attribute_source").fetchone()[0] == 8


def test_query_errors_name_the_audience_and_show_duckdb_line(warehouse):
    audiences = load(
        {
            "sql_audiences": [
                {
                    "name": "typo",
                    "sql": "SELECT customer_id\nFROM customer_360\nWHERE citty = 'Boston'",
                }
            ]
        }
    )
    con = open_read_only(warehouse)
    try:
        with pytest.raises(
            ValueError, match=r"(?s)audience 'typo'.*citty.*LINE 3: WHERE citty"
        ) as info:
            evaluate_audience(con, "typo", audiences, AS_OF, COLUMNS)
    finally:
        con.close()
    assert "Referenced column" in str(info.value) or "not found" in str(info.value)


def test_sql_audience_returns_attributes_and_must_have_customer_id(warehouse):
    audiences = load(
        {
            "sql_audiences": [
                {
                    "name": "rev",
                    "sql": "SELECT customer_id, l12m_revenue AS revenue FROM customer_attribute_source WHERE l12m_revenue > 1000",
                },
                {"name": "noid", "sql": "SELECT email FROM customer_360"},
            ]
        }
    )
    con = open_read_only(warehouse)
    try:
        frame = evaluate_audience(con, "rev", audiences, AS_OF, COLUMNS).sort("customer_id")
        assert frame.columns == ["customer_id", "revenue"] and frame["customer_id"].to_list() == [
            "c1",
            "c6",
        ]
        with pytest.raises(ValueError, match="audience 'noid'.*customer_id"):
            evaluate_audience(con, "noid", audiences, AS_OF, COLUMNS)
    finally:
        con.close()


def test_a_missing_view_is_named(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    con = open_read_only(path)
    try:
        with pytest.raises(ValueError, match="customer_attribute_source.*does not exist"):
            evaluate_audience(con, "s", segments(s={"column": "email", "op": "is null"}), AS_OF)
    finally:
        con.close()
