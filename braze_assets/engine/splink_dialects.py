"""Splink's Spark dialect with DuckDB's record hash, so both engines sample the same records.

Splink picks its training samples by a hash of each record's id: the records u is estimated on
(`estimate_u_using_random_sampling`), the pairs an EM session keeps when it has more than
`em_max_pairs`, and the chunks prediction works through. Its DuckDB dialect hashes with DuckDB's
`hash()`, its Spark dialect with Spark's 32-bit Murmur3 `hash()`, so the two engines trained on
different samples as soon as the data was large enough to be sampled (over about 2,000 records):
at 1M source records the m and u of rare levels differed by up to 3x, and Spark mode found 1.5%
fewer customers than DuckDB mode on the same inputs (benchmarks/README.md, "Engines").

DuckDB mode keeps Splink's own dialect, so its results are the ones measured before Spark mode
existed (a shared MD5 hash for both moved the 1M F1 from 0.9850 to 0.9814: an equally valid but
different sample). Spark mode calls DuckDB's `hash()` itself, through a vectorised (pandas) UDF
that hands each Arrow batch of ids to an in-process DuckDB: the very same function, not a copy of
it, so every id gets the same 64-bit hash on both engines. DuckDB's hash is an unsigned BIGINT;
the UDF returns it as text and Spark reads it as DECIMAL(20,0), on which Splink's own bucket
expressions (Spark's `pmod`, `ABS(..) % n` for chunks) give DuckDB's unsigned `%` exactly.

The ids are hashed as text on both engines: the identity stage's `record_id` is VARCHAR, and
Splink's composite ids are `||` concatenations (text) on DuckDB too.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

# The SQL name of the UDF in a Spark session (register_duckdb_hash).
HASH_UDF = "braze_duckdb_hash"


def duckdb_hash_text(ids: pd.Series) -> pd.Series:
    """DuckDB's hash() of each id (as text), as the decimal text of the unsigned 64-bit value."""
    import pyarrow as pa

    batch = pa.table({"id": pa.array(ids, type=pa.string(), from_pandas=True)})
    con = _connection()
    con.register("_ids", batch)
    try:
        hashed = con.execute('SELECT CAST(hash("id") AS VARCHAR) FROM _ids').fetchnumpy()
    finally:
        con.unregister("_ids")
    (column,) = hashed.values()
    return pd.Series(column, index=ids.index, dtype=object)


@cache
def _connection():
    # One in-memory DuckDB per Python worker: connecting costs more than hashing a batch.
    import duckdb

    return duckdb.connect(":memory:")


def register_duckdb_hash(session) -> None:
    """Make HASH_UDF callable from the session's SQL (Splink's Spark dialect below calls it)."""
    from pyspark.sql.functions import pandas_udf

    session.udf.register(HASH_UDF, pandas_udf(duckdb_hash_text, "string"))


@cache
def spark_dialect() -> type:
    """Splink's SparkDialect hashing record ids with DuckDB's hash(); Splink is imported on first
    use. A session whose SQL uses it needs register_duckdb_hash first."""
    from splink.internals.dialects import SparkDialect

    class DuckDBHashSparkDialect(SparkDialect):
        def hash_function_expression(self, col_expression: str) -> str:
            text = f"CAST(({col_expression}) AS STRING)"
            return f"CAST({HASH_UDF}({text}) AS DECIMAL(20,0))"

    return DuckDBHashSparkDialect
