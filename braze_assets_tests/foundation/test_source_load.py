from pathlib import Path

import pytest

from braze_assets.sources.load import SourceError, load_table
from braze_assets.warehouse import connect


def _load(con, path: Path, required=("id", "email")):
    return load_table(
        con,
        source="shop",
        table="raw_shop",
        path=path,
        required_columns=list(required),
        primary_key="id",
    )


def test_loads_everything_as_text_with_row_numbers(tmp_path: Path):
    csv = tmp_path / "shop.csv"
    csv.write_text("id,email,revenue\n1,a@x.com,12.50\n2,,junk\n2,b@x.com,3\n")
    with connect(tmp_path / "w.duckdb") as con:
        report = _load(con, csv)
        rows = con.execute(
            "SELECT id, email, revenue, _row_number FROM raw_shop ORDER BY _row_number"
        ).fetchall()
        types = {r[0]: r[1] for r in con.execute("DESCRIBE raw_shop").fetchall()}
    assert rows == [("1", "a@x.com", "12.50", 2), ("2", None, "junk", 3), ("2", "b@x.com", "3", 4)]
    assert types["revenue"] == "VARCHAR" and types["id"] == "VARCHAR"
    assert report.rows == 3 and report.duplicate_keys == 1 and report.empty_columns == []


def test_missing_file_names_source_and_path(tmp_path: Path):
    with (
        connect(tmp_path / "w.duckdb") as con,
        pytest.raises(SourceError, match=r"source 'shop'.*nope.csv does not exist"),
    ):
        _load(con, tmp_path / "nope.csv")


def test_missing_column_names_column_and_file(tmp_path: Path):
    csv = tmp_path / "shop.csv"
    csv.write_text("id,mail\n1,a@x.com\n")
    with (
        connect(tmp_path / "w.duckdb") as con,
        pytest.raises(SourceError, match=r"column\(s\) email declared.*shop.csv"),
    ):
        _load(con, csv)


def test_reload_replaces_rows(tmp_path: Path):
    csv = tmp_path / "shop.csv"
    csv.write_text("id,email\n1,a@x.com\n")
    with connect(tmp_path / "w.duckdb") as con:
        _load(con, csv)
        _load(con, csv)
        assert con.execute("SELECT count(*) FROM raw_shop").fetchone()[0] == 1


def test_all_empty_declared_column_is_reported(tmp_path: Path):
    csv = tmp_path / "shop.csv"
    csv.write_text("id,email\n1,\n2,  \n")
    with connect(tmp_path / "w.duckdb") as con:
        assert _load(con, csv).empty_columns == ["email"]
