"""Read-only enforcement: the parser refuses, and the connection refuses whatever slips past the parser."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from braze_assets import settings
from braze_assets.audiences import (
    AudienceError,
    AudiencesConfig,
    evaluate_audience,
    open_read_only,
    validate_sql_audience,
)

REFUSED = {
    "drop": "DROP TABLE customer_360",
    "insert": "INSERT INTO customer_360 (customer_id) VALUES ('x')",
    "update": "UPDATE customer_360 SET email = NULL",
    "delete": "DELETE FROM customer_360",
    "attach": "ATTACH 'other.duckdb' AS other",
    "copy": "COPY customer_360 TO 'leak.csv'",
    "multiple": "SELECT customer_id FROM customer_360; DROP TABLE customer_360",
    "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read_parquet": "SELECT customer_id FROM read_parquet('s3://bucket/x.parquet')",
    "file_as_table": "SELECT * FROM 'customers.csv'",
    "glob": "SELECT * FROM glob('/*')",
    "create": "CREATE TABLE x AS SELECT * FROM customer_360",
    "select_into": "SELECT * INTO backup FROM customer_360",
    "with_insert": "WITH a AS (SELECT 1) INSERT INTO customer_360 SELECT * FROM a",
    "pragma": "PRAGMA database_list",
    "set": "SET enable_external_access = true",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "subquery_reader": "SELECT customer_id FROM customer_360 WHERE email IN (SELECT * FROM read_text('/etc/hosts'))",
    "empty": "  ",
}


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_parser_refuses_anything_but_one_read_only_query(sql):
    with pytest.raises(AudienceError, match="audience 'analyst_q'"):
        validate_sql_audience("analyst_q", sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT customer_id FROM customer_360",
        "WITH big AS (SELECT customer_id FROM transaction_attributes WHERE l12m_order_revenue > 100)\nSELECT customer_id FROM big;",
        "SELECT customer_id FROM customer_360 UNION SELECT customer_id FROM main.transaction_attributes",
    ],
)
def test_parser_accepts_plain_queries(sql):
    validate_sql_audience("ok", sql)


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE customer_360",
        "INSERT INTO customer_360 VALUES ('x', 'y', 'z', 'w')",
        "DELETE FROM customer_360",
        "SELECT 1; DROP TABLE customer_360",
        "CREATE TABLE evil AS SELECT 1",
    ],
)
def test_connection_refuses_writes_that_slip_past(warehouse, sql):
    con = open_read_only(warehouse)
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute(sql)
    finally:
        con.close()
    with duckdb.connect(str(warehouse), read_only=True) as check:
        assert check.execute("SELECT count(*) FROM customer_360").fetchone()[0] == 8


@pytest.mark.parametrize(
    "template",
    [
        "COPY customer_360 TO '{dir}/leak.csv'",
        "ATTACH '{dir}/other.duckdb' AS other",
        "SELECT * FROM read_csv('{dir}/leak.csv')",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_connection_refuses_files_and_settings_that_slip_past(warehouse, tmp_path, template):
    con = open_read_only(warehouse)
    try:
        with pytest.raises(duckdb.Error):
            con.execute(template.format(dir=tmp_path))
    finally:
        con.close()
    assert not (tmp_path / "leak.csv").exists() and not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM local.csv",
        "SELECT customer_id FROM exports.customers.parquet",
        "SELECT customer_id FROM 'x.parquet'",
        'SELECT customer_id FROM "../data/customers.csv"',
        "SELECT customer_id FROM customer_360 JOIN other.json USING (customer_id)",
    ],
)
def test_parser_refuses_file_like_table_names(sql):
    with pytest.raises(AudienceError, match=r"audience 'analyst_q'.*looks like a file"):
        validate_sql_audience("analyst_q", sql)


@pytest.fixture
def big_source(tmp_path):
    path = tmp_path / "big.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE customer_attribute_source AS "
            "SELECT 'c' || i AS customer_id, i AS n FROM range(2000) t(i)"
        )
    return path


def test_runaway_audience_sql_is_stopped_by_the_time_limit(big_source, monkeypatch):
    monkeypatch.setenv(settings.ENV_AUDIENCE_SQL_TIMEOUT_S, "0.5")
    audiences = AudiencesConfig.model_validate(
        {
            "sql_audiences": [
                {
                    "name": "runaway",
                    # 2000^4 row combinations; the filter keeps DuckDB busy without filling memory.
                    "sql": "SELECT a.customer_id FROM customer_attribute_source a, customer_attribute_source b, "
                    "customer_attribute_source c, customer_attribute_source d WHERE a.n + b.n + c.n + d.n < 0",
                }
            ]
        }
    )
    con = open_read_only(big_source)
    try:
        with pytest.raises(
            AudienceError,
            match=r"audience 'runaway'.*longer than 0.5 s.*BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S",
        ):
            evaluate_audience(con, "runaway", audiences, datetime.now(UTC))
        # The connection stays usable after the interrupt.
        assert con.execute("SELECT count(*) FROM customer_attribute_source").fetchone()[0] == 2000
    finally:
        con.close()


def test_audience_time_limit_setting_is_checked(monkeypatch):
    monkeypatch.setenv(settings.ENV_AUDIENCE_SQL_TIMEOUT_S, "soon")
    with pytest.raises(ValueError, match="BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S='soon'"):
        settings.audience_sql_timeout_s()


def test_audience_connection_applies_the_warehouse_memory_limit(big_source, monkeypatch):
    monkeypatch.setenv(settings.ENV_WAREHOUSE_MEMORY_LIMIT, "300MiB")
    con = open_read_only(big_source)
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()
    assert limit in {"300.0 MiB", "314.5 MB"}, limit


@pytest.fixture
def slow_column_source(tmp_path):
    """customer_attribute_source as a view whose `heavy` column costs ~0.3 M operations per row
    (a Levenshtein distance of long strings): a segment that does not read it is instant (DuckDB
    drops unused columns), reading it for 300,000 customers takes minutes."""
    path = tmp_path / "slow.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE base AS SELECT 'c' || i AS customer_id, i AS n, 'Boston' AS city "
            "FROM range(300000) t(i)"
        )
        con.execute(
            "CREATE VIEW customer_attribute_source AS SELECT customer_id, n, city, "
            "levenshtein(repeat(customer_id, 80), repeat(city, 100)) AS heavy FROM base"
        )
    return path


def test_a_campaigns_follow_up_read_is_stopped_by_the_time_limit(slow_column_source, monkeypatch):
    """The segment finishes; the campaign's read of its attributes from the view runs under the
    same time limit as audience SQL (before, it ran unbounded)."""
    from braze_assets.audiences import plan_activation

    monkeypatch.setenv(settings.ENV_AUDIENCE_SQL_TIMEOUT_S, "5")
    audiences = AudiencesConfig.model_validate(
        {
            "segments": [
                {"name": "boston", "where": {"column": "city", "op": "=", "value": "Boston"}}
            ],
            "campaigns": [
                {
                    "name": "camp",
                    "destination": "braze",
                    "segments": ["boston"],
                    "attributes": {"heavy_score": "heavy"},
                }
            ],
        }
    )
    columns = {"customer_id": "VARCHAR", "n": "BIGINT", "city": "VARCHAR", "heavy": "BIGINT"}
    con = open_read_only(slow_column_source)
    try:
        with pytest.raises(
            AudienceError,
            match=r"campaign 'camp': reading its attributes ran longer than 5 s.*"
            "BRAZE_ASSETS_AUDIENCE_SQL_TIMEOUT_S",
        ):
            plan_activation(con, "camp", audiences, datetime.now(UTC), columns)
    finally:
        con.close()
