"""Read-only enforcement: the parser refuses, and the connection refuses whatever slips past the parser."""

from __future__ import annotations

import duckdb
import pytest

from braze_assets.audiences import AudienceError, open_read_only, validate_sql_audience

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
