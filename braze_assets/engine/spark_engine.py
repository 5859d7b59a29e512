"""The Engine on a SparkSession: DuckDB-dialect SQL transpiled by sqlglot, tables stored as
Parquet directories under the configured location (one directory per table, same name and
columns as the DuckDB table) and exposed to SQL as session views of the same name.

Why Parquet and not Delta Lake or Iceberg: pyspark's pip package ships Spark's Parquet reader and
writer, while Delta's and Iceberg's Spark runtimes are jars fetched from Maven when the session
starts (delta-spark's `configure_spark_with_delta_pip` sets spark.jars.packages), which this project
does not allow at run time. Every stage rewrites its table whole, so the table format needs no
row-level updates; a replace writes a staging directory and swaps it in, so a failed write keeps
the old table.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from functools import lru_cache

import pyarrow as pa
import sqlglot
from sqlglot import exp, time
from sqlglot.dialects.spark import Spark

from braze_assets.engine.base import map_schema, mapped_batch, propagate_components

STAGING_SUFFIX = "__building"
# Splink writes its intermediate tables here (its 'parquet' lineage break), removed after each run.
SPLINK_WORK = "_splink_work"


@lru_cache(maxsize=512)
def to_spark_sql(query: str) -> str:
    """DuckDB SQL as Spark SQL. sqlglot does the dialect; this adds what it leaves as is."""
    tree = sqlglot.parse_one(query, read="duckdb")
    tree = tree.transform(_try_strptime)
    return tree.sql(dialect="spark")


@lru_cache(maxsize=256)
def to_splink_spark_sql(condition: str) -> str:
    """A DuckDB-dialect condition as Splink's Spark SQL: Spark has no jaro_winkler_similarity;
    Splink's similarity jar registers jaro_winkler (and damerau_levenshtein, same name)."""
    tree = sqlglot.parse_one(condition, read="duckdb")
    return re.sub(r"\bJAROWINKLER_SIMILARITY\(", "jaro_winkler(", tree.sql(dialect="spark"))


def _try_strptime(node: exp.Expression) -> exp.Expression:
    # DuckDB's try_strptime(text, '%m/%d/%Y') is Spark's try_to_timestamp(text, 'MM/dd/yyyy'):
    # both give NULL for text that does not parse.
    if isinstance(node, exp.Anonymous) and node.name.upper() == "TRY_STRPTIME":
        value, fmt = node.expressions
        if not isinstance(fmt, exp.Literal) or not fmt.is_string:
            raise ValueError(f"try_strptime needs one literal format on Spark: {node.sql()}")
        java = time.format_time(fmt.this, Spark.INVERSE_TIME_MAPPING)
        return exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[value, exp.Literal.string(java)])
    return node


_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"table name {name!r} is not a plain identifier")
    return name


class SparkEngine:
    name = "spark"

    def __init__(self, session, location: str):
        self.session = session
        self.location = location.rstrip("/")
        self._jvm = session._jvm
        self._fs = self._path(self.location).getFileSystem(session._jsc.hadoopConfiguration())
        self._fs.mkdirs(self._path(self.location))
        self._attach_stored_tables()

    # storage

    def _path(self, text: str):
        return self._jvm.org.apache.hadoop.fs.Path(text)

    def table_path(self, name: str) -> str:
        return f"{self.location}/{_name(name)}"

    def _attach_stored_tables(self) -> None:
        """Every table directory under the location becomes a view, as tables are in a DuckDB file."""
        for status in self._fs.listStatus(self._path(self.location)):
            name = status.getPath().getName()
            if (
                status.isDirectory()
                and _SAFE_NAME.match(name)
                and not name.endswith(STAGING_SUFFIX)
            ):
                if self._fs.exists(self._path(f"{self.location}/{name}/_SUCCESS")):
                    self._attach(name)

    def _attach(self, name: str) -> None:
        self.session.read.parquet(self.table_path(name)).createOrReplaceTempView(name)

    def write_table(self, name: str, query: str) -> None:
        self.write_dataframe(name, self.session.sql(to_spark_sql(query)))

    def write_dataframe(self, name: str, frame) -> None:
        final, staging = self.table_path(name), self.table_path(name) + STAGING_SUFFIX
        frame.write.mode("overwrite").parquet(staging)
        self._fs.delete(self._path(final), True)
        if not self._fs.rename(self._path(staging), self._path(final)):
            raise OSError(f"could not move {staging} to {final}")
        self._attach(name)

    def write_arrow(self, name: str, table: pa.Table) -> None:
        self.write_dataframe(name, self._frame(table))

    # session-local data

    def create_temp(self, name: str, query: str) -> None:
        # Materialised like DuckDB's temp table: later steps read it many times, and a lazy
        # view would recompute the whole chain (and its Python maps) each time.
        frame = self.session.sql(to_spark_sql(query)).localCheckpoint()
        frame.createOrReplaceTempView(_name(name))

    def drop_temp(self, name: str) -> None:
        self.session.catalog.dropTempView(_name(name))

    def register(self, name: str, table: pa.Table) -> None:
        self._frame(table).createOrReplaceTempView(_name(name))

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(_name(name))

    def map_distinct(self, name, query, inputs, fn, outputs, types=None) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = map_schema(inputs, outputs, types)
        width = len(inputs)

        def run(batches):
            for batch in batches:
                columns = [batch.column(i).to_pylist() for i in range(width)]
                yield mapped_batch(columns, fn, outputs, schema)

        frame = self.session.sql(to_spark_sql(query)).toDF(*inputs)
        mapped = frame.mapInArrow(run, from_arrow_schema(schema)).localCheckpoint()
        mapped.createOrReplaceTempView(_name(name))

    def _frame(self, table: pa.Table):
        return self.session.createDataFrame(table)

    # reading

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        frame = self.session.sql(to_spark_sql(query), args=list(params) if params else None)
        return [tuple(row) for row in frame.collect()]

    def read_arrow(self, query: str) -> pa.Table:
        return self.session.sql(to_spark_sql(query)).toArrow()

    def table_exists(self, name: str) -> bool:
        return bool(self.session.catalog.tableExists(_name(name)))

    def columns(self, name: str) -> list[str]:
        return list(self.session.table(_name(name)).columns)

    def create_view(self, name: str, query: str) -> None:
        self.session.sql(to_spark_sql(query)).createOrReplaceTempView(_name(name))

    def drop_view(self, name: str) -> None:
        self.session.catalog.dropTempView(_name(name))

    def transaction(self):
        return nullcontext()

    # Splink

    def splink_api(self):
        from splink import SparkAPI

        context = self.session.sparkContext
        if context._jsc.sc().getCheckpointDir().isEmpty():
            context.setCheckpointDir(f"{self.location}/{SPLINK_WORK}")
        return SparkAPI(spark_session=self.session, break_lineage_method="parquet")

    def splink_sql(self, condition: str) -> str:
        return to_splink_spark_sql(condition)

    def drop_splink_tables(self) -> None:
        for table in self.session.catalog.listTables():
            if table.isTemporary and table.name.startswith("__splink__"):
                self.session.catalog.dropTempView(table.name)
        work = self._path(f"{self.location}/{SPLINK_WORK}")
        if self._fs.exists(work):
            self._fs.delete(work, True)

    def create_indexed(self, name: str, query: str, order_by: str) -> None:
        from pyspark.sql.functions import monotonically_increasing_id

        # A range-partitioned sort, then ids that grow with the partition and the row in it.
        frame = self.session.sql(to_spark_sql(f"SELECT * FROM ({query}) ORDER BY {order_by}"))
        frame = frame.withColumn("idx", monotonically_increasing_id()).localCheckpoint()
        frame.createOrReplaceTempView(_name(name))

    def components(self, name: str, nodes: str, edges: str) -> None:
        propagate_components(self, name, nodes, edges)
