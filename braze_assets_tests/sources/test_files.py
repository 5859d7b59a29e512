"""Local files: globs over gzipped CSV and JSON Lines load the same text as one CSV."""

from __future__ import annotations

import gzip
import json

from braze_assets.sources.incremental import load_source
from braze_assets.warehouse import connect
from braze_assets_tests.sources.helpers import shop_entry


def _rows(con):
    return con.execute(
        "SELECT * EXCLUDE (_source_file) FROM raw_shop ORDER BY _row_number"
    ).fetchall()


def test_globs_of_gzipped_csv_and_json_lines_load_the_same_text(tmp_path):
    (tmp_path / "one.csv").write_text(
        "id,email,updated_at,spend\n1,a@x.test,2024-01-01,12.50\n2,,2024-01-02,3\n3,c@x.test,2024-01-03,\n"
    )
    exports = tmp_path / "exports"
    exports.mkdir()
    for name, lines in (
        ("a", ["id,email,updated_at,spend", "1,a@x.test,2024-01-01,12.50"]),
        ("b", ["id,email,updated_at,spend", "2,,2024-01-02,3", "3,c@x.test,2024-01-03,"]),
    ):
        with gzip.open(exports / f"part-{name}.csv.gz", "wt") as fh:
            fh.write("\n".join(lines) + "\n")
    records = [
        {"id": "1", "email": "a@x.test", "updated_at": "2024-01-01", "spend": 12.50},
        {"id": "2", "email": "", "updated_at": "2024-01-02", "spend": 3},
        {"id": "3", "email": "c@x.test", "updated_at": "2024-01-03", "spend": None},
    ]
    with gzip.open(exports / "all.ndjson.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records))

    with connect(tmp_path / "w.duckdb") as con:
        load_source(con, shop_entry("one.csv"), tmp_path)
        expected = _rows(con)
        load_source(con, shop_entry("exports/part-*.csv.gz"), tmp_path)
        assert _rows(con) == expected
        assert con.execute("SELECT DISTINCT _source_file FROM raw_shop ORDER BY 1").fetchall() == [
            (str(exports / "part-a.csv.gz"),),
            (str(exports / "part-b.csv.gz"),),
        ]
        load_source(con, shop_entry("exports/*.ndjson.gz"), tmp_path)
        # Every value is text and empty is NULL; a JSON number is read back as its value's text.
        assert _rows(con) == [
            ("1", "a@x.test", "2024-01-01", "12.5", 2),
            ("2", None, "2024-01-02", "3", 3),
            ("3", "c@x.test", "2024-01-03", None, 4),
        ]
        assert expected[0] == ("1", "a@x.test", "2024-01-01", "12.50", 2)


def test_soft_deleted_rows_of_a_file_are_not_loaded(tmp_path):
    (tmp_path / "s.csv").write_text(
        "id,email,updated_at,deleted\n1,a@x.test,2024-01-01,false\n2,b@x.test,2024-01-01,true\n3,c@x.test,2024-01-01,\n"
    )
    entry = shop_entry("s.csv", load={"soft_delete_column": "deleted"})
    with connect(tmp_path / "w.duckdb") as con:
        load = load_source(con, entry, tmp_path)
        ids = [r[0] for r in con.execute("SELECT id FROM raw_shop ORDER BY id").fetchall()]
    assert ids == ["1", "3"] and load.mode == "full"


def test_a_column_named_filename_is_kept(tmp_path):
    # DuckDB's readers add a file-name column; a source's own `filename` must not clash with it.
    (tmp_path / "f.csv").write_text("id,email,updated_at,filename\n1,a@x.test,2024-01-01,cv.pdf\n")
    with connect(tmp_path / "w.duckdb") as con:
        load_source(con, shop_entry("f.csv"), tmp_path)
        assert con.execute("SELECT id, filename FROM raw_shop").fetchall() == [("1", "cv.pdf")]
