"""Spark mode's sources: each file read by DuckDB's own reader in a task of its own
(sources/engine_load.py) loads the same raw table, row for row, as DuckDB mode's loader, and bad
files fail with the same message naming the file and line."""

from __future__ import annotations

import gzip
import json

import pytest

from braze_assets.engine.duckdb_engine import DuckDBEngine
from braze_assets.sources.engine_load import (
    engine_load_refusal,
    load_source_files,
    parquet_view,
)
from braze_assets.sources.incremental import load_source, required_columns, soft_deleted
from braze_assets.sources.load import SourceError
from braze_assets.warehouse import connect
from braze_assets_tests.sources.helpers import shop_entry


def _entry(path: str, **extra):
    return shop_entry(path, columns={"email": "email", "phone": "phone"}, **extra)


def _write_parts(tmp_path):
    """Three CSV parts (one gzipped, one with a column the others lack, one with a soft-deleted
    row, duplicate keys and empty values) and the same rows as JSON Lines."""
    parts = tmp_path / "exports"
    parts.mkdir()
    (parts / "part-a.csv").write_text(
        "id,email,phone,updated_at,deleted\n"
        '1,a@x.test,,2024-01-01,no\n2,"b,comma@x.test",555,2024-01-02,\n'
        "3,,,2024-01-03,yes\n"
    )
    with gzip.open(parts / "part-b.csv.gz", "wt") as fh:
        fh.write("id,email,phone,updated_at,deleted\n4,d@x.test,1,2024-01-04,0\n1,dup@x.test,,,\n")
    (parts / "part-c.csv").write_text(
        "id,email,phone,updated_at,deleted\n" + "".join(f"{i},,,,\n" for i in range(5, 2005))
    )
    rows = [
        {"id": "1", "email": "a@x.test", "phone": None, "updated_at": "2024-01-01"},
        {"id": "2", "email": "", "phone": 555, "updated_at": "2024-01-02", "extra": "x"},
    ]
    (tmp_path / "lines").mkdir()
    (tmp_path / "lines" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return parts


def _engine_table(engine, table="raw_shop"):
    return sorted(engine.fetch(f"SELECT * FROM {table}"), key=lambda row: row[-1])  # by _row_number


def _duckdb_table(con, table="raw_shop"):
    return con.execute(f"SELECT * FROM {table} ORDER BY _row_number").fetchall()


CASES = [
    ("exports/part-*.csv*", {"format": "csv", "load": {"soft_delete_column": "deleted"}}),
    ("exports/part-a.csv", {}),
    ("lines/*.jsonl", {}),
]


def _load_both(tmp_path, engine_for, path, extra):
    entry = _entry(path, **extra)
    with connect(tmp_path / "w.duckdb") as con:
        reference = load_source(con, entry, tmp_path).report
        expected = _duckdb_table(con)
        engine = engine_for(con)
        report = load_source_files(
            engine,
            con,
            entry,
            tmp_path,
            table="raw_shop_engine",
            required_columns=required_columns(entry),
            exclude=soft_deleted(entry),
        )
        got = _engine_table(engine, "raw_shop_engine")
    return reference, report, expected, got


@pytest.mark.parametrize(("path", "extra"), CASES)
def test_duckdb_engine_reads_the_files_as_duckdb_mode_does(tmp_path, path, extra):
    _write_parts(tmp_path)
    reference, report, expected, got = _load_both(tmp_path, DuckDBEngine, path, extra)
    assert got == expected
    assert (report.rows, report.empty_columns, report.duplicate_keys, report.columns) == (
        reference.rows,
        reference.empty_columns,
        reference.duplicate_keys,
        reference.columns,
    )


def test_spark_reads_each_file_in_a_task_as_duckdb_mode_reads_them(tmp_path, spark_session):
    from braze_assets.engine.spark_engine import SparkEngine

    _write_parts(tmp_path)
    loaded = {}
    for path, extra in CASES:
        reference, report, expected, got = loaded[path] = _load_both(
            tmp_path,
            lambda con: SparkEngine(spark_session, str(tmp_path / "tables")),
            path,
            extra,
        )
        assert got == expected, path
        assert (report.rows, report.empty_columns, report.duplicate_keys) == (
            reference.rows,
            reference.empty_columns,
            reference.duplicate_keys,
        ), path
    # The glob: the soft-deleted row (id 3, line 4 of the first file) is gone and the later rows
    # keep their numbers, counted across the files in name order.
    glob_rows = loaded[CASES[0][0]][3]
    assert [(r[0], r[-1]) for r in glob_rows[:4]] == [("1", 2), ("2", 3), ("4", 5), ("1", 6)]


def test_spark_names_the_file_and_line_of_bad_utf8(tmp_path, spark_session):
    from braze_assets.engine.spark_engine import SparkEngine

    parts = tmp_path / "exports"
    parts.mkdir()
    (parts / "part-a.csv").write_text("id,email,phone,updated_at\n1,a@x.test,,2024-01-01\n")
    (parts / "part-b.csv").write_bytes(
        b"id,email,phone,updated_at\n2,b@x.test,,2024-01-02\n3,caf\xe9@x.test,,2024-01-03\n"
    )
    entry = _entry("exports/*.csv")
    engine = SparkEngine(spark_session, str(tmp_path / "tables"))
    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(SourceError) as duckdb_mode:
            load_source(con, entry, tmp_path)
        with pytest.raises(SourceError) as spark_mode:
            load_source_files(
                engine,
                con,
                entry,
                tmp_path,
                table="raw_shop",
                required_columns=required_columns(entry),
                exclude=None,
            )
    assert "part-b.csv is not valid UTF-8: line 3 (data row 2), column email" in str(
        spark_mode.value
    )
    assert str(spark_mode.value) == str(duckdb_mode.value)
    assert not engine.table_exists("raw_shop")


def test_a_view_of_the_parquet_files_replaces_a_table_and_back(tmp_path):
    """Switching engines: Spark mode's view of the raw table replaces DuckDB mode's table, and a
    later DuckDB-mode load replaces the view with a table again."""
    import duckdb

    (tmp_path / "shop.csv").write_text("id,email,phone,updated_at\n1,a@x.test,,2024-01-01\n")
    files = tmp_path / "tables" / "raw_shop"
    files.mkdir(parents=True)
    duckdb.connect().execute(
        f"COPY (SELECT '9' AS id) TO '{files / 'part-0.parquet'}' (FORMAT parquet)"
    )
    entry = _entry("shop.csv")
    with connect(tmp_path / "w.duckdb") as con:
        load_source(con, entry, tmp_path)
        parquet_view(con, "raw_shop", str(files))
        assert con.execute("SELECT id FROM raw_shop").fetchall() == [("9",)]
        load_source(con, entry, tmp_path)
        assert con.execute("SELECT id FROM raw_shop").fetchall() == [("1",)]
        kind = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'raw_shop'"
        ).fetchone()[0]
    assert kind == "BASE TABLE"


@pytest.mark.parametrize(
    ("extra", "local", "reason"),
    [
        ({}, True, None),
        ({}, False, "the table location is not a local path"),
        ({"load": {"mode": "incremental"}}, True, "an incremental source"),
    ],
)
def test_which_sources_load_on_spark(extra, local, reason):
    assert engine_load_refusal(_entry("shop.csv", **extra), local) == reason
    s3 = _entry("s3://bucket/shop.csv")
    assert engine_load_refusal(s3, True) == "s3:// objects"
