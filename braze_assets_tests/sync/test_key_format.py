"""A warehouse written with the first key format (DuckDB's md5_number key ids and hash value
hashes, which Spark cannot compute) is converted once, so its next sync resends nothing."""

from __future__ import annotations

import duckdb

from braze_assets.sync.diff import compute_changes
from braze_assets.sync.tables import (
    _ADDED,
    _TABLES,
    CONFIRMED,
    FORMAT,
    KEY_ID_SQL,
    REJECTIONS,
    SNAPSHOTS,
    VALUE_HASH_SQL,
    ensure_tables,
)
from braze_assets.warehouse import create_tables
from braze_assets_tests.sync.conftest import DAY1, DAY2

OLD_KEY = "md5_number(identifier || chr(31) || attribute || chr(31) || element)"
OLD_HASH = "hash(value_json)"
# E1's tier was delivered; E2's changed tier was rejected (held back until it changes again).
INTENDED = "VALUES ('E1', 'tier', '\"gold\"'), ('E2', 'tier', '\"silver\"')"
CONFIRMED_VALUES = "VALUES ('E1', 'tier', '\"gold\"'), ('E2', 'tier', '\"bronze\"')"


ROWS = "SELECT identifier, attribute, '' AS element, value_json FROM ({}) t(identifier, attribute, value_json)"


def _snapshot(con, day, key: str, value_hash: str) -> None:
    con.execute(
        f"""INSERT INTO {SNAPSHOTS} SELECT DATE '{day}', 'braze', identifier, attribute, element,
                {key}, 'value', 'string', true, value_json, {value_hash} FROM ({ROWS.format(INTENDED)})"""
    )


def _old_warehouse(con) -> None:
    create_tables(con, _TABLES, _ADDED)
    _snapshot(con, DAY1, OLD_KEY, OLD_HASH)
    con.execute(
        f"""INSERT INTO {CONFIRMED} SELECT 'braze', identifier, attribute, element, {OLD_KEY},
                'value', true, value_json, {OLD_HASH}, TIMESTAMP '2026-10-31 06:00:00', 'r0'
            FROM ({ROWS.format(CONFIRMED_VALUES)})"""
    )
    con.execute(
        f"""INSERT INTO {REJECTIONS} SELECT destination, identifier, attribute, element, key_id,
                'change', value_json, value_hash, 'invalid', 'r0', TIMESTAMP '2026-10-31 06:00:00',
                NULL
            FROM {SNAPSHOTS} WHERE identifier = 'E2'"""
    )


def _diff(con, day=DAY2):
    return compute_changes(con, "braze", day, clear_attributes=["tier"])


def test_the_old_format_is_converted_once_and_nothing_is_resent(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        _old_warehouse(con)
        # The next day's snapshot in the new format: unconverted, no confirmed key would match
        # and every value would be sent again.
        _snapshot(con, DAY2, KEY_ID_SQL, VALUE_HASH_SQL)
        before = _diff(con)
        assert (before.adds, before.removes) == (2, 2)
        ensure_tables(con)
        for table in (SNAPSHOTS, CONFIRMED, REJECTIONS):
            assert con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE key_id = {KEY_ID_SQL} "
                f"AND value_hash = {VALUE_HASH_SQL}) FROM {table}"
            ).fetchone() in {(1, 1), (2, 2), (4, 4)}
        for day in (DAY1, DAY2):
            after = _diff(con, day)
            assert after.values == 0 and after.held_back == 1
        # Converted once: a later ensure_tables leaves rows of another format alone.
        con.execute(f"UPDATE {CONFIRMED} SET value_hash = 7")
        ensure_tables(con)
        assert con.execute(f"SELECT DISTINCT value_hash FROM {CONFIRMED}").fetchall() == [(7,)]
        assert con.execute(f"SELECT * FROM {FORMAT}").fetchall() == [(2,)]


def test_a_new_warehouse_starts_in_the_current_format(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_tables(con)
        assert con.execute(f"SELECT * FROM {FORMAT}").fetchall() == [(2,)]
