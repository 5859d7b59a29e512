"""The Spark engine's own parts: dialect rewrites, the table swap, and the s3a:// location check."""

from __future__ import annotations

import pyarrow as pa
import pytest

from braze_assets.engine import EngineStartupError
from braze_assets.engine.spark_engine import SparkEngine, to_spark_sql
from braze_assets.engine.startup import check_location_through_spark


def test_try_strptime_becomes_try_to_timestamp():
    sql = to_spark_sql("SELECT try_strptime(x, '%m/%d/%Y %H:%M') AS t FROM s")
    assert sql == "SELECT TRY_TO_TIMESTAMP(x, 'MM/dd/yyyy HH:mm') AS t FROM s"
    qualify = to_spark_sql(
        "SELECT a FROM s QUALIFY row_number() OVER (PARTITION BY a ORDER BY b DESC) = 1"
    )
    assert "QUALIFY" not in qualify.upper()


@pytest.mark.integration
def test_values_parse_alike_and_tables_swap(spark_session, tmp_path):
    engine = SparkEngine(spark_session, str(tmp_path / "tables"))
    engine.register("_dates", pa.table({"raw": ["03/04/2024 10:11", "2024-03-04 10:11:00", "x"]}))
    engine.write_table(
        "parsed",
        "SELECT raw, coalesce(try_cast(raw AS TIMESTAMP), try_strptime(raw, '%m/%d/%Y %H:%M')) "
        "AS at FROM _dates",
    )
    rows = dict(engine.fetch("SELECT raw, CAST(at AS VARCHAR) FROM parsed"))
    assert rows == {
        "03/04/2024 10:11": "2024-03-04 10:11:00",
        "2024-03-04 10:11:00": "2024-03-04 10:11:00",
        "x": None,
    }
    # A replace reads the old table and swaps the new one in; a new engine finds it stored.
    engine.write_table("parsed", "SELECT raw FROM parsed WHERE at IS NULL")
    again = SparkEngine(spark_session, str(tmp_path / "tables"))
    assert again.fetch("SELECT raw FROM parsed") == [("x",)]
    assert not (tmp_path / "tables" / "parsed__building").exists()


@pytest.mark.integration
def test_s3a_location_without_the_connector_is_one_clear_line(spark_session):
    with pytest.raises(EngineStartupError) as error:
        check_location_through_spark(spark_session, "s3a://some-bucket/tables")
    message = str(error.value)
    assert "s3a://some-bucket/tables" in message and "hadoop-aws" in message
    assert "\n" not in message
