"""Splink's SQL dialects with one record hash for both engines.

Splink picks its training samples by a hash of each record's id: the records u is estimated on
(`estimate_u_using_random_sampling`), the pairs an EM session keeps when it has more than
`em_max_pairs`, and the chunks prediction works through. Its DuckDB dialect hashes with DuckDB's
`hash()`, its Spark dialect with Spark's 32-bit Murmur3 `hash()`, so the two engines trained on
different samples as soon as the data was large enough to be sampled (over about 2,000 records):
at 1M source records the m and u of rare levels differed by up to 3x, and Spark mode found 1.5%
fewer customers than DuckDB mode on the same inputs (benchmarks/README.md, "Engines"). Here both
hash the id's text with MD5 and read its first 15 hex digits (60 bits, a non-negative BIGINT on
both engines), as the sync's key ids do, so both engines sample the very same records. Only the
hash is replaced: Splink's own bucket expressions (DuckDB's `%`, Spark's `pmod`) call it, and
agree on a non-negative hash.
"""

from __future__ import annotations

from functools import cache

# 15 hex digits: the largest that always fits a signed BIGINT (both engines' hash type).
_DIGITS = 15


@cache
def dialects() -> tuple[type, type]:
    """(DuckDB dialect, Spark dialect) classes; Splink is imported on first use."""
    from splink.internals.dialects import DuckDBDialect, SparkDialect

    class SharedHashDuckDBDialect(DuckDBDialect):
        def hash_function_expression(self, col_expression: str) -> str:
            text = f"CAST(({col_expression}) AS VARCHAR)"
            return f"CAST(('0x' || substr(md5({text}), 1, {_DIGITS})) AS BIGINT)"

    class SharedHashSparkDialect(SparkDialect):
        def hash_function_expression(self, col_expression: str) -> str:
            text = f"CAST(({col_expression}) AS STRING)"
            return f"CAST(conv(substr(md5({text}), 1, {_DIGITS}), 16, 10) AS BIGINT)"

    return SharedHashDuckDBDialect, SharedHashSparkDialect


@cache
def duckdb_api_class() -> type:
    """Splink's DuckDBAPI with the shared record hash."""
    from splink import DuckDBAPI

    class SharedHashDuckDBAPI(DuckDBAPI):
        sql_dialect = dialects()[0]()

    return SharedHashDuckDBAPI
