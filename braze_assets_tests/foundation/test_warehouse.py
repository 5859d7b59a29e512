import subprocess
import sys
import textwrap

import duckdb
import pytest

from braze_assets.defs.resources import WarehouseResource
from braze_assets.warehouse import (
    STORAGE_VERSION,
    WarehouseSettingError,
    connect,
    create_tables,
    quote_literal,
    replace_table,
    transaction,
)


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        yield con


def _values(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT x FROM t ORDER BY x").fetchall()]


def test_transaction_commits_the_block(con):
    with transaction(con):
        con.execute("INSERT INTO t VALUES (2)")
    assert _values(con) == [1, 2]


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_transaction_rolls_back_and_reraises(con, error):
    with pytest.raises(type(error)):
        with transaction(con):
            con.execute("INSERT INTO t VALUES (2)")
            raise error
    assert _values(con) == [1]
    # The connection is usable again: no transaction was left open.
    with transaction(con):
        con.execute("INSERT INTO t VALUES (3)")
    assert _values(con) == [1, 3]


def test_replace_table_swaps_in_the_new_rows(con):
    replace_table(con, "t", "SELECT ?::INTEGER AS x", [7])
    assert _values(con) == [7]
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%__building'"
        ).fetchone()[0]
        == 0
    )


def test_replace_table_keeps_the_old_table_when_the_query_fails(con):
    with pytest.raises(duckdb.Error):
        replace_table(con, "t", "SELECT CAST('not a number' AS INTEGER) AS x")
    assert _values(con) == [1]


def _storage_version(path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE NOT internal AND database_name <> 'memory'"
        ).fetchone()[0]


def test_a_new_warehouse_file_gets_the_storage_format(tmp_path):
    with connect(tmp_path / "nested" / "o'brien.duckdb") as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert _storage_version(tmp_path / "nested" / "o'brien.duckdb") == STORAGE_VERSION + "+"
    with WarehouseResource(database=str(tmp_path / "resource.duckdb")).get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert _storage_version(tmp_path / "resource.duckdb") == STORAGE_VERSION + "+"


def test_an_existing_warehouse_file_keeps_its_format_and_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    before = _storage_version(path)
    with connect(path) as con:
        assert _values(con) == [1]
    assert _storage_version(path) == before != STORAGE_VERSION + "+"


def test_quote_literal_escapes_quotes():
    with duckdb.connect() as con:
        value = "it's 'quoted'"
        assert con.execute("SELECT " + quote_literal(value)).fetchone()[0] == value


def test_the_memory_limit_setting_caps_every_warehouse_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT", "300MB")
    with connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    with WarehouseResource(database=str(tmp_path / "r.duckdb")).get_connection() as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"


def test_a_junk_memory_limit_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT", "lots")
    with pytest.raises(WarehouseSettingError, match="BRAZE_ASSETS_WAREHOUSE_MEMORY_LIMIT='lots'"):
        with connect(tmp_path / "w.duckdb"):
            pass


def test_warehouse_connections_draw_no_progress_bar(tmp_path):
    """A long query would otherwise draw DuckDB's bar into the CLI's output and the run logs.
    In a child process, as the CLI and run workers are (DuckDB's default differs under pytest)."""
    code = textwrap.dedent(
        f"""
        import duckdb
        from braze_assets.defs.resources import WarehouseResource
        from braze_assets.warehouse import connect

        setting = "SELECT current_setting('enable_progress_bar')"
        with duckdb.connect({str(tmp_path / "plain.duckdb")!r}) as plain:
            print("default", plain.execute(setting).fetchone()[0])
        with connect({str(tmp_path / "w.duckdb")!r}) as con:
            print("connect", con.execute(setting).fetchone()[0])
        resource = WarehouseResource(database={str(tmp_path / "r.duckdb")!r})
        with resource.get_connection() as con:
            print("resource", con.execute(setting).fetchone()[0])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["default True", "connect False", "resource False"]


def test_create_tables_marks_columns_not_null_unless_written_null(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        create_tables(
            con, {"t2": "a VARCHAR, b VARCHAR NULL, c DECIMAL(18, 2), PRIMARY KEY (a, c)"}
        )
        nullable = dict(
            con.execute(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_name = 't2' ORDER BY ordinal_position"
            ).fetchall()
        )
        assert nullable == {"a": "NO", "b": "YES", "c": "NO"}
        con.execute("INSERT INTO t2 VALUES ('x', NULL, 1.5)")
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO t2 VALUES ('x', 'y', 1.5)")  # the key as written


def test_create_tables_gives_an_older_warehouse_the_added_column_and_keeps_its_rows(tmp_path):
    """A warehouse written before a column was added (here the sync's rejections table before
    first_rejected_at) opens with the column, NULL in its old rows, and the rows kept; a second
    call changes nothing."""
    from braze_assets.sync import tables as sync_tables

    path = tmp_path / "old.duckdb"
    with connect(path) as con:
        old = sync_tables._TABLES[sync_tables.REJECTIONS]
        create_tables(con, {sync_tables.REJECTIONS: old})
        con.execute(
            f"INSERT INTO {sync_tables.REJECTIONS} VALUES ('d', 'u1', 'a', '', 1, 'set', "
            "'\"v\"', 7, 'bad', 'run-1', TIMESTAMP '2026-01-01 00:00:00')"
        )
    for _ in range(2):
        with connect(path) as con:
            sync_tables.ensure_tables(con)
            columns = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    f"WHERE table_name = '{sync_tables.REJECTIONS}' ORDER BY ordinal_position"
                ).fetchall()
            ]
            assert columns[-1] == "first_rejected_at" and columns.count("first_rejected_at") == 1
            rows = con.execute(
                f"SELECT identifier, reason, first_rejected_at FROM {sync_tables.REJECTIONS}"
            ).fetchall()
            assert rows == [("u1", "bad", None)]
