"""A warehouse written with the first key format (DuckDB's md5_number key ids and hash value
hashes, which Spark cannot compute) is converted once, so its next sync resends nothing; and the
diff leaves out profiles deleted since its snapshot was built (what Spark mode's diff needs)."""

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


def test_a_profile_deleted_since_the_day_began_is_not_sent_from_that_days_snapshot(con):
    """In Spark mode the lifecycle forgets a deleted profile in the warehouse file but the diff
    reads the snapshot at the table location: the diff itself leaves out profiles deleted since
    the snapshot's day began (and only those: an older deletion does not hide a profile that
    came back)."""
    from braze_assets.lifecycle.tables import DELETIONS, ensure_lifecycle_tables
    from braze_assets_tests.sync.conftest import put_snapshot, value

    put_snapshot(
        con, DAY2, [value("u1", "loyalty_tier", '"gold"'), value("u2", "loyalty_tier", '"red"')]
    )
    ensure_lifecycle_tables(con)
    assert compute_changes(con, "braze_us", DAY2, clear_attributes=()).adds == 2
    deletion = f"""INSERT INTO {DELETIONS} VALUES ('braze_us', 'r1', 'c-u2', 'u2', 'disappeared',
        ?, NULL, ?)"""
    con.execute(deletion, ["deleted", "2026-11-01 23:00:00"])
    assert compute_changes(con, "braze_us", DAY2, clear_attributes=()).adds == 2
    con.execute(deletion, ["failed", "2026-11-02 06:00:00"])
    assert compute_changes(con, "braze_us", DAY2, clear_attributes=()).adds == 2
    con.execute(deletion, ["deleted", "2026-11-02 06:00:00"])
    counts = compute_changes(con, "braze_us", DAY2, clear_attributes=())
    assert counts.adds == 1
    assert con.execute("SELECT identifier FROM _sync_changes").fetchall() == [("u1",)]
