"""Bad input stops identity resolution with a message naming the source and column."""

from __future__ import annotations

import duckdb
import pytest

from braze_assets.config.model import ProjectConfig
from braze_assets.identity.config import IdentityConfig
from braze_assets.identity.standardise import IdentityInputError, standardise

pytestmark = pytest.mark.integration


def config() -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "sources": [
                {
                    "name": "crm",
                    "path": "crm.csv",
                    "primary_key": "id",
                    "updated_at": "changed",
                    "columns": {"first": "given_name", "mail": "email", "tel": "phone"},
                }
            ]
        }
    )


@pytest.fixture()
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield con
    con.close()


def raw(con, rows: list[tuple], columns=("id", "changed", "first", "mail", "tel")) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE raw_crm ({', '.join(c + ' VARCHAR' for c in columns)}, _source_file VARCHAR, _row_number BIGINT)"
    )
    con.executemany(
        f"INSERT INTO raw_crm VALUES ({', '.join('?' for _ in columns)}, 'crm.csv', ?)",
        [r + (i + 2,) for i, r in enumerate(rows)],
    )


def refused(con, message: str) -> None:
    """standardise stops with an IdentityInputError whose message matches `message`."""
    with pytest.raises(IdentityInputError, match=message):
        standardise(con, config(), IdentityConfig())


def test_missing_raw_table_names_the_source_and_file(con):
    refused(con, r"source 'crm': table raw_crm is missing \(is crm.csv loaded\?\)")


def test_tagged_column_absent_names_source_and_column(con):
    raw(con, [("1", "2024-01-01", "Ann", "ann@x.org")], columns=("id", "changed", "first", "mail"))
    refused(con, r"source 'crm': column 'tel' \(tagged phone\) is not in raw_crm")


def test_all_null_column_is_an_error(con):
    raw(
        con,
        [("1", "2024-01-01", "Ann", "ann@x.org", None), ("2", "2024-01-01", "Bo", "bo@x.org", "")],
    )
    refused(con, r"source 'crm': column 'tel' \(phone\) is empty in all 2 rows")


def test_all_junk_column_is_an_error_and_warn_mode_reports_it(con):
    raw(
        con,
        [
            ("1", "2024-01-01", "Ann", "test@test.com", "415 555 2671"),
            ("2", "2024-01-01", "Bo", "N/A", "415 555 2672"),
        ],
    )
    refused(con, r"column 'mail' \(email\) has no usable value \(2 junk, 0 invalid of 2\)")
    report = standardise(con, config(), IdentityConfig(empty_columns="warn"))
    assert any("'mail'" in p for p in report.problems)
    assert con.execute("SELECT count(email) FROM unified_standardised").fetchone()[0] == 0


def test_duplicate_and_missing_keys_keep_one_row_per_key(con):
    raw(
        con,
        [
            ("1", "2024-01-01", "Ann", "ann@x.org", "415 555 2671"),
            ("1", "2024-06-01", "Anne", "ann@x.org", "415 555 2671"),
            (None, "2024-01-01", "Cy", "cy@x.org", "415 555 2673"),
        ],
    )
    report = standardise(con, config(), IdentityConfig())
    assert report.duplicate_keys == {"crm": 1} and report.missing_keys == {"crm": 1}
    assert con.execute("SELECT given_name FROM unified_standardised").fetchall() == [("anne",)]
