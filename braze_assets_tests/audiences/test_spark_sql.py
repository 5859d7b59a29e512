"""SQL audiences in Spark mode: accepted as they are, transpiled where sqlglot does it safely, and
refused with the audience and the construct named where it does not."""

from __future__ import annotations

import pytest

from braze_assets.audiences import AudienceError
from braze_assets.audiences.sql_guard import validate_spark_sql_audience


@pytest.mark.parametrize(
    ("duckdb_sql", "spark_fragment"),
    [
        ("SELECT customer_id FROM customer_360 WHERE city = 'Austin'", "WHERE city = 'Austin'"),
        # DuckDB-only syntax sqlglot writes in Spark's words.
        (
            "SELECT customer_id FROM customer_360 QUALIFY row_number() OVER "
            "(PARTITION BY email ORDER BY customer_id) = 1",
            # DuckDB sorts NULLs last; Spark is told so.
            "ROW_NUMBER() OVER (PARTITION BY email ORDER BY customer_id NULLS LAST) AS _w",
        ),
        ("SELECT * EXCLUDE (email) FROM customer_360", "SELECT * EXCEPT (email)"),
        (
            "SELECT customer_id FROM customer_attribute_source WHERE list_contains(tags, 'vip')",
            "ARRAY_CONTAINS(tags, 'vip')",
        ),
        (
            "SELECT customer_id FROM customer_360 WHERE regexp_matches(email, '@example')",
            "email RLIKE '@example'",
        ),
        # The engine's own rewrites: an instant's UTC wall time.
        (
            "SELECT customer_id FROM c WHERE timezone('UTC', signed_up_at) > '2024-01-01'",
            "CAST(signed_up_at AS TIMESTAMP_NTZ)",
        ),
    ],
)
def test_portable_sql_is_transpiled(duckdb_sql, spark_fragment):
    assert spark_fragment in validate_spark_sql_audience("vips", duckdb_sql)


@pytest.mark.parametrize(
    ("duckdb_sql", "construct"),
    [
        ("SELECT customer_id FROM c WHERE md5_number(email) > 5", r"function md5_number\(\)"),
        ("SELECT customer_id, profile::JSON AS p FROM c", "type JSON"),
        ("SELECT customer_id, n::UBIGINT AS n FROM c", "type UBIGINT"),
        ("SELECT c.customer_id FROM c ASOF JOIN o ON c.at >= o.at", "ASOF JOIN"),
        ("SELECT c.customer_id FROM c POSITIONAL JOIN o", "POSITIONAL JOIN"),
        ("SELECT customer_id, COLUMNS('l12m_.*') FROM c", r"COLUMNS\(...\)"),
        (
            "SELECT customer_id FROM (UNPIVOT c ON a, b INTO NAME attribute VALUE v)",
            "PIVOT / UNPIVOT",
        ),
        (
            "SELECT customer_id, array_agg(sku ORDER BY at) AS skus FROM o GROUP BY 1",
            r"array_agg\(... ORDER BY ...\) would lose its order",
        ),
    ],
)
def test_sql_that_does_not_transpile_safely_is_refused_naming_audience_and_construct(
    duckdb_sql, construct
):
    with pytest.raises(
        AudienceError, match=rf"audience 'vips': cannot run on Spark: .*{construct}"
    ):
        validate_spark_sql_audience("vips", duckdb_sql)


def test_sqlglots_unsupported_error_is_the_refusal():
    """What sqlglot itself cannot write in Spark's dialect (unsupported-errors level raise)."""
    with pytest.raises(
        AudienceError, match="audience 'vips': cannot run on Spark: EXCLUDE clause is not supported"
    ):
        validate_spark_sql_audience(
            "vips",
            "SELECT customer_id, sum(n) OVER (ORDER BY at ROWS BETWEEN 1 PRECEDING AND CURRENT ROW "
            "EXCLUDE CURRENT ROW) AS s FROM c",
        )
