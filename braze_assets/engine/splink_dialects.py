"""Splink's Spark dialect computing what DuckDB computes: the record hash and the string
similarities, so both engines train on the same sample and give every pair the same levels.

Splink picks its training samples by a hash of each record's id: the records u is estimated on
(`estimate_u_using_random_sampling`), the pairs an EM session keeps when it has more than
`em_max_pairs`, and the chunks prediction works through. Its DuckDB dialect hashes with DuckDB's
`hash()`, its Spark dialect with Spark's 32-bit Murmur3 `hash()`, so the two engines trained on
different samples as soon as the data was large enough to be sampled (over about 2,000 records):
at 1M source records the m and u of rare levels differed by up to 3x, and Spark mode found 1.5%
fewer customers than DuckDB mode on the same inputs (benchmarks/README.md, "Engines").

The string functions differ too. DuckDB's `levenshtein`, `damerau_levenshtein` and
`jaro_winkler_similarity` count UTF-8 bytes (`levenshtein('ä', 'a')` is 2), Spark's and Splink's
jar count characters (1), and Splink's jar computes Jaro-Winkler otherwise (Apache Commons Text:
1.2% of random name pairs of the 1M demo scored differently, `jaro_winkler('', '')` is 1 where
DuckDB's is 0), so on text outside ASCII, or near a threshold, a pair could land in another level
on each engine.

DuckDB mode keeps Splink's own dialect, so its results are the ones measured before Spark mode
existed (a shared MD5 hash for both moved the 1M F1 from 0.9850 to 0.9814). Spark mode computes
DuckDB's values:
- the edit distances with Spark's own functions over each text's UTF-8 bytes read as Latin-1
  characters (one character per byte): SQL functions, inlined by Spark, no Python;
- the record hash and Jaro-Winkler by calling DuckDB itself, through Arrow UDFs that hand each
  batch to an in-process DuckDB: the very same functions, not copies of them. DuckDB's hash is
  an unsigned BIGINT, returned as DECIMAL(20,0), on which Splink's own bucket expressions (Spark's
  `pmod`, `ABS(..) % n` for chunks) give DuckDB's unsigned `%` exactly.

The ids are hashed as text on both engines: the identity stage's `record_id` is VARCHAR, and
Splink's composite ids are `||` concatenations (text) on DuckDB too.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa

# SQL names in a Spark session (register_duckdb_functions).
HASH_UDF = "braze_duckdb_hash"
JARO_WINKLER = "braze_jaro_winkler"
JARO = "braze_jaro"
LEVENSHTEIN = "braze_levenshtein"
DAMERAU_LEVENSHTEIN = "braze_damerau_levenshtein"
_BYTES = "braze_utf8_bytes"

# name -> (DuckDB's function, Spark return type) for the functions DuckDB computes.
_DUCKDB_UDFS = {
    HASH_UDF: ("CAST(hash({}) AS DECIMAL(20,0))", "decimal(20,0)"),
    JARO_WINKLER: ("jaro_winkler_similarity({})", "double"),
    JARO: ("jaro_similarity({})", "double"),
}

# Spark SQL functions, inlined: the text's UTF-8 bytes as one Latin-1 character each, and
# Spark's (Splink jar's) edit distances over them, which then count bytes as DuckDB does.
_SQL_FUNCTIONS = (
    f"{_BYTES}(t STRING) RETURNS STRING RETURN decode(encode(t, 'UTF-8'), 'ISO-8859-1')",
    f"{LEVENSHTEIN}(a STRING, b STRING) RETURNS INT RETURN levenshtein({_BYTES}(a), {_BYTES}(b))",
    f"{DAMERAU_LEVENSHTEIN}(a STRING, b STRING) RETURNS INT "
    f"RETURN damerau_levenshtein({_BYTES}(a), {_BYTES}(b))",
)


def duckdb_call(function: str, *arrays: pa.Array) -> pa.Array:
    """DuckDB's `function` (a template with one {} for the arguments) over Arrow arrays, row by
    row, as one array."""
    names = [f"a{i}" for i in range(len(arrays))]
    con = _connection()
    con.register("_args", pa.table(dict(zip(names, arrays))))
    try:
        result = con.execute(
            f"SELECT {function.format(', '.join(names))} FROM _args"
        ).fetch_arrow_table()
    finally:
        con.unregister("_args")
    return result.column(0).combine_chunks()


@cache
def _connection():
    # One in-memory DuckDB per Python worker: connecting costs more than a batch. One thread:
    # Spark already runs a worker per core, and a projection keeps its rows' order.
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET threads = 1")
    return con


def _udf(function: str):
    def call(*arrays: pa.Array) -> pa.Array:
        return duckdb_call(function, *arrays)

    return call


def register_duckdb_functions(session) -> None:
    """Make the functions the Spark dialect below calls available to the session's SQL. Splink's
    jar (damerau_levenshtein) must be registered first (SparkAPI does it)."""
    from pyspark.sql.functions import arrow_udf

    for name, (function, kind) in _DUCKDB_UDFS.items():
        session.udf.register(name, arrow_udf(_udf(function), kind))
    for function in _SQL_FUNCTIONS:
        session.sql(f"CREATE OR REPLACE TEMPORARY FUNCTION {function}")


def to_duckdb_functions(spark_sql: str) -> str:
    """Spark SQL written with Spark's (Splink jar's) similarity functions, calling the ones that
    compute DuckDB's values instead (for the identity's custom levels)."""
    import re

    names = {
        "jaro_winkler": JARO_WINKLER,
        "jarowinkler_similarity": JARO_WINKLER,
        "levenshtein": LEVENSHTEIN,
        "damerau_levenshtein": DAMERAU_LEVENSHTEIN,
    }
    pattern = re.compile(r"\b(" + "|".join(names) + r")\s*\(", re.IGNORECASE)
    return pattern.sub(lambda m: names[m.group(1).lower()] + "(", spark_sql)


@cache
def spark_dialect() -> type:
    """Splink's SparkDialect with DuckDB's hash and string functions; Splink is imported on first
    use. A session whose SQL uses it needs register_duckdb_functions first."""
    from splink.internals.dialects import SparkDialect

    class DuckDBValuesSparkDialect(SparkDialect):
        def hash_function_expression(self, col_expression: str) -> str:
            return f"{HASH_UDF}(CAST(({col_expression}) AS STRING))"

        @property
        def levenshtein_function_name(self):
            return LEVENSHTEIN

        @property
        def damerau_levenshtein_function_name(self):
            return DAMERAU_LEVENSHTEIN

        @property
        def jaro_winkler_function_name(self):
            return JARO_WINKLER

        @property
        def jaro_function_name(self):
            return JARO

    return DuckDBValuesSparkDialect
