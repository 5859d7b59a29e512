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
import uuid
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from functools import lru_cache

import pyarrow as pa
import sqlglot
from sqlglot import exp, time
from sqlglot.dialects.spark import Spark

from braze_assets.engine.base import (
    component_labels,
    conform,
    map_schema,
    mapped_batch,
    propagate_components,
)
from braze_assets.engine.config import SplinkOnSpark
from braze_assets.warehouse import column_definitions

STAGING_SUFFIX = "__building"
# Rows added to a table without rewriting it: a directory inside the table's, written hidden.
APPENDING, APPENDED = "_appending-", "appended-"
# Splink writes its intermediate tables here (its 'parquet' lineage break), removed after each run.
SPLINK_WORK = "_splink_work"


@lru_cache(maxsize=512)
def to_spark_sql(query: str) -> str:
    """DuckDB SQL as Spark SQL. sqlglot does the dialect; this adds what it leaves as is."""
    return spark_tree(sqlglot.parse_one(query, read="duckdb")).sql(dialect="spark")


def spark_tree(tree: exp.Expression) -> exp.Expression:
    """A DuckDB syntax tree with the rewrites sqlglot does not do, ready to write as Spark SQL."""
    # _hex_numbers before _hugeint, which rewrites the integer types it looks for.
    for rewrite in (
        _hex_numbers,
        _json_valid,
        _try_strptime,
        _top_n,
        _list_index,
        _hugeint,
        _utc_instant,
        _instant,
        _utc_wall_time,
        _days,
    ):
        tree = tree.transform(rewrite)
    return tree


# DuckDB functions sqlglot does not know (it passes them on by name) that the rewrites translate.
TRANSLATED_FUNCTIONS = frozenset({"TRY_STRPTIME", "TIMEZONE", "JSON_VALID"})


def _json_valid(node: exp.Expression) -> exp.Expression:
    # DuckDB's json_valid(text): whether the text parses as JSON (NULL for NULL). Spark's
    # try_parse_json gives NULL for text that does not.
    if isinstance(node, exp.Anonymous) and node.name.upper() == "JSON_VALID":
        (text,) = node.expressions
        return sqlglot.parse_one(
            "CASE WHEN t IS NULL THEN NULL ELSE TRY_PARSE_JSON(t) IS NOT NULL END", read="spark"
        ).transform(lambda n: text.copy() if isinstance(n, exp.Column) and n.name == "t" else n)
    return node


def _utc_wall_time(node: exp.Expression) -> exp.Expression:
    # DuckDB's timezone('UTC', instant) is the instant's UTC wall time: on Spark the instant's
    # TIMESTAMP_NTZ in the session's zone, which is UTC (session.py).
    if (
        isinstance(node, exp.Anonymous)
        and node.name.upper() == "TIMEZONE"
        and len(node.expressions) == 2
        and isinstance(node.expressions[0], exp.Literal)
        and node.expressions[0].name.upper() == "UTC"
    ):
        return exp.Cast(
            this=node.expressions[1].copy(),
            to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"),
        )
    return node


def _hex_numbers(node: exp.Expression) -> exp.Expression:
    # DuckDB reads text starting '0x' as a hex number when cast to an integer (the sync's key id
    # and value hash, sync/tables.py); Spark's conv() reads hex digits, as unsigned 64 bits.
    if not isinstance(node, exp.Cast) or not node.to.is_type(*_INTEGERS):
        return node
    text = node.this.unnest()
    if not (
        isinstance(text, exp.DPipe)
        and isinstance(text.this, exp.Literal)
        and text.this.is_string
        and text.this.name.lower() == "0x"
    ):
        return node
    digits = exp.Anonymous(
        this="CONV",
        expressions=[text.expression.copy(), exp.Literal.number(16), exp.Literal.number(10)],
    )
    return exp.Cast(this=digits, to=node.to.copy())


_INTEGERS = (
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.UBIGINT,
    exp.DataType.Type.INT128,
    exp.DataType.Type.UINT128,
)


def _days(node: exp.Expression) -> exp.Expression:
    # DuckDB's to_days(n) is an interval of n days; Spark has no to_days.
    if isinstance(node, exp.ToDays):
        return exp.Anonymous(
            this="MAKE_DT_INTERVAL",
            expressions=[node.this.copy(), *(exp.Literal.number(0) for _ in range(3))],
        )
    return node


@lru_cache(maxsize=256)
def to_splink_spark_sql(condition: str) -> str:
    """A DuckDB-dialect condition as Splink's Spark SQL, its similarity functions computing
    DuckDB's values (splink_dialects: DuckDB counts UTF-8 bytes and has its own Jaro-Winkler)."""
    from braze_assets.engine.splink_dialects import to_duckdb_functions

    tree = sqlglot.parse_one(condition, read="duckdb").transform(_arrays_overlap)
    return to_duckdb_functions(tree.sql(dialect="spark"))


def _arrays_overlap(node: exp.Expression) -> exp.Expression:
    # DuckDB's list_has_any(a, b) is Spark's arrays_overlap(a, b); sqlglot writes `a && b`, which
    # Spark reads as a boolean AND.
    if isinstance(node, exp.ArrayOverlaps):
        return exp.Anonymous(this="ARRAYS_OVERLAP", expressions=[node.this, node.expression])
    return node


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


def _top_n(node: exp.Expression) -> exp.Expression:
    # DuckDB's min_by(x, key, n) / max_by(x, key, n): the x of the n smallest (largest) keys, in
    # key order. Spark's min_by takes no n: sort the group's (key, x) pairs and keep n of them.
    # A group holds one customer's rows (its orders, its problems), so the list stays small.
    if not isinstance(node, (exp.ArgMin, exp.ArgMax)) or node.args.get("count") is None:
        return node
    value, key, count = node.this, node.expression, node.args["count"]
    pair = sqlglot.parse_one(
        "CASE WHEN k IS NOT NULL THEN STRUCT(k AS k, v AS v) END", read="spark"
    )
    pair = pair.transform(
        lambda n: (key if n.name == "k" else value).copy() if isinstance(n, exp.Column) else n
    )
    ordered = exp.Anonymous(
        this="ARRAY_SORT", expressions=[exp.Anonymous(this="COLLECT_LIST", expressions=[pair])]
    )
    if isinstance(node, exp.ArgMax):
        ordered = exp.Anonymous(this="REVERSE", expressions=[ordered])
    values = sqlglot.parse_one("TRANSFORM(pairs, e -> e.v)", read="spark")
    values.set("this", ordered)
    return exp.Anonymous(this="SLICE", expressions=[values, exp.Literal.number(1), count.copy()])


def _list_index(node: exp.Expression) -> exp.Expression:
    # DuckDB's list[i] is NULL past the end; Spark's (ANSI mode) fails. try_element_at is NULL.
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Slice) or (isinstance(index, exp.Literal) and index.is_string):
        return node
    # sqlglot holds the index 0-based; try_element_at counts from 1.
    one_based = (
        exp.Literal.number(int(index.this) + 1)
        if isinstance(index, exp.Literal)
        else exp.Add(this=index.copy(), expression=exp.Literal.number(1))
    )
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[node.this.copy(), one_based])


def _hugeint(node: exp.Expression) -> exp.Expression:
    # Spark has no 128-bit or unsigned integers; whole-number decimals hold the same numbers (as
    # spark_type stores them; a UHUGEINT above 10^38 does not fit, the key ids stay below 2^124).
    if isinstance(node, exp.DataType) and node.this in _WIDE:
        return exp.DataType.build(_WIDE[node.this])
    return node


_WIDE = {
    exp.DataType.Type.INT128: "DECIMAL(38, 0)",
    exp.DataType.Type.UINT128: "DECIMAL(38, 0)",
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
}


def _utc_instant(node: exp.Expression) -> exp.Expression:
    # DuckDB's CAST(text AS TIMESTAMPTZ) AT TIME ZONE 'UTC' is the instant's UTC wall time. On
    # Spark the text parses to a TIMESTAMP_LTZ (its offset applied), whose TIMESTAMP_NTZ is the
    # wall time in the session's zone, which the engine's session sets to UTC (session.py).
    if not (
        isinstance(node, exp.AtTimeZone)
        and isinstance(node.this, exp.Cast)
        and node.this.to.this == exp.DataType.Type.TIMESTAMPTZ
        and node.args["zone"].name.upper() == "UTC"
    ):
        return node
    cast = node.this.copy()
    cast.set("to", exp.DataType.build("TIMESTAMP_LTZ", dialect="spark"))
    return exp.Cast(this=cast, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))


def _instant(node: exp.Expression) -> exp.Expression:
    # DuckDB's TIMESTAMPTZ is an instant: Spark's TIMESTAMP_LTZ (sqlglot writes TIMESTAMP, which
    # the session reads as TIMESTAMP_NTZ and so would drop a text's offset).
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMPTZ:
        return exp.DataType.build("TIMESTAMP_LTZ", dialect="spark")
    return node


# Spark's type names (DataType.simpleString) as DuckDB spells them, for column_types.
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "binary": "BLOB",
    "void": "NULL",
}


def duckdb_type(spark_type: str) -> str:
    if spark_type in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[spark_type]
    if spark_type.startswith("decimal"):
        return spark_type.upper()
    if spark_type.startswith("array<"):
        return duckdb_type(spark_type[6:-1]) + "[]"
    if spark_type.startswith(("struct<", "map<")):
        return spark_type.split("<", 1)[0].upper() + "(" + spark_type.split("<", 1)[1][:-1] + ")"
    return spark_type.upper()


def spark_type(duckdb_type: str) -> str:
    """A DuckDB column type as Spark spells it: JSON is text on Spark, the unsigned and 128-bit
    integers, which Spark lacks, are whole-number decimals wide enough for them, and TIMESTAMPTZ
    is an instant (TIMESTAMP_LTZ, not the session's TIMESTAMP, which is TIMESTAMP_NTZ)."""
    upper = duckdb_type.strip().upper()
    wide = {
        "JSON": "STRING",
        "UBIGINT": "DECIMAL(20,0)",
        "HUGEINT": "DECIMAL(38,0)",
        "UHUGEINT": "DECIMAL(38,0)",
    }
    if upper in wide:
        return wide[upper]
    return _instant(exp.DataType.build(duckdb_type, dialect="duckdb")).sql(dialect="spark")


def _args(params: list | None) -> list | None:
    # A naive datetime binds as TIMESTAMP_NTZ (the session's timestampType, session.py): a UTC
    # wall time stays one, whatever the driver's zone.
    return list(params) if params else None


def local_path(location: str) -> str | None:
    """A table location as a path of this machine's file system, or None (s3a://, hdfs://...)."""
    if location.startswith("file:"):
        return "/" + location.removeprefix("file:").lstrip("/")
    return None if "://" in location else location


_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"table name {name!r} is not a plain identifier")
    return name


# The stored tables each session has as views: name -> (directory, its _SUCCESS file's modification
# time). Attaching a table reads its Parquet schema, a Spark job of its own; every Dagster asset
# builds a new engine on the process's one session, so only tables written since are attached again.
_ATTACHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class SparkEngine:
    name = "spark"

    def __init__(self, session, location: str, splink: SplinkOnSpark | None = None):
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        self.errors = (PySparkException, Py4JJavaError)
        self.session = session
        self.location = location.rstrip("/")
        self.splink = splink or SplinkOnSpark()
        self._jvm = session._jvm
        self._fs = self._path(self.location).getFileSystem(session._jsc.hadoopConfiguration())
        self._fs.mkdirs(self._path(self.location))
        self._attached = _ATTACHED.setdefault(session, {})
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
                written = self._written(name)
                if written is not None and (
                    self._attached.get(name) != written
                    or not self.session.catalog.tableExists(name)
                ):
                    self._attach(name, written)

    def _written(self, name: str) -> tuple[str, int] | None:
        """The table's directory and when it was last written; None while it is not complete."""
        success = self._path(f"{self.table_path(name)}/_SUCCESS")
        if not self._fs.exists(success):
            return None
        return self.table_path(name), self._fs.getFileStatus(success).getModificationTime()

    def _attach(self, name: str, written: tuple[str, int] | None = None) -> None:
        # Recursive: appended rows are directories inside the table's (_append).
        reader = self.session.read.option("recursiveFileLookup", "true")
        reader.parquet(self.table_path(name)).createOrReplaceTempView(name)
        self._attached[name] = written or self._written(name)

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

    def create_temp(self, name: str, query: str, params: list | None = None) -> None:
        # Materialised like DuckDB's temp table: later steps read it many times, and a lazy
        # view would recompute the whole chain (and its Python maps) each time.
        frame = self.session.sql(to_spark_sql(query), args=_args(params)).localCheckpoint()
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

    def map_batches(self, name, query, fn, schema) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        def run(batches):
            for batch in batches:
                yield from conform(fn(pa.Table.from_batches([batch])), schema).to_batches()

        frame = self.session.sql(to_spark_sql(query))
        mapped = frame.mapInArrow(run, from_arrow_schema(schema)).localCheckpoint()
        mapped.createOrReplaceTempView(_name(name))

    def read_files(self, name, files, read, schema) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        def run(batches):
            for batch in batches:
                for index, path in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                    yield from read(index, path)

        # One partition per file, so each file is a task of its own (and one file's rows stay in
        # order in one task).
        listing = self.session.sparkContext.parallelize(list(enumerate(files)), len(files))
        frame = self.session.createDataFrame(listing, "file_index INT, path STRING")
        mapped = frame.mapInArrow(run, from_arrow_schema(schema)).localCheckpoint()
        mapped.createOrReplaceTempView(_name(name))

    def create_view(self, name: str, query: str) -> None:
        self.session.sql(to_spark_sql(query)).createOrReplaceTempView(_name(name))

    def column_types(self, query: str) -> dict[str, str]:
        schema = self.session.sql(to_spark_sql(query)).schema
        return {f.name: duckdb_type(f.dataType.simpleString()) for f in schema}

    def arrow_schema(self, query: str) -> pa.Schema:
        from pyspark.sql.pandas.types import to_arrow_schema

        zone = self.session.conf.get("spark.sql.session.timeZone")
        return to_arrow_schema(self.session.sql(to_spark_sql(query)).schema, timezone=zone)

    def write_union(self, name: str, queries: list[str], order_by: str) -> None:
        frames = [self.session.sql(to_spark_sql(q)) for q in queries]
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame, allowMissingColumns=True)
        union.createOrReplaceTempView("_union_rows")
        self.write_table(name, f"SELECT * FROM _union_rows ORDER BY {order_by}")
        self.drop_temp("_union_rows")

    def utc(self):
        # The session's zone is UTC (session.py): nothing to switch.
        return nullcontext()

    def atomic(self):
        # Each table is swapped in whole (write_dataframe); tables are not written together.
        return nullcontext()

    def create_table(self, name: str, columns: str) -> None:
        if self.table_exists(name):
            return
        typed = []
        for definition in column_definitions(columns):
            column, kind = definition.split(None, 1)
            kind = re.sub(r"\s+(NOT\s+)?NULL$", "", kind.strip(), flags=re.IGNORECASE)
            typed.append(f"CAST(NULL AS {spark_type(kind)}) AS {column}")
        frame = self.session.sql(f"SELECT {', '.join(typed)} WHERE false")
        self.write_dataframe(name, frame)

    def replace_rows(self, name: str, where: str, query: str) -> None:
        stored = self.session.table(_name(name))
        added = self.session.sql(to_spark_sql(query)).toDF(*stored.columns)
        replaced = self.session.sql(
            to_spark_sql(f"SELECT 1 FROM {name} WHERE coalesce({where}, false) LIMIT 1")
        )
        if replaced.isEmpty():
            # Nothing to replace (a new run's history, a new day's snapshot): the rows are added
            # without rewriting the table's files, cast to its types (every file of a table has
            # one schema).
            self._append(
                name, added.select(*(added[f.name].cast(f.dataType) for f in stored.schema))
            )
            return
        kept = self.session.sql(
            to_spark_sql(f"SELECT * FROM {name} WHERE NOT coalesce({where}, false)")
        )
        # Written to a staging directory before the old files go: reading the table it replaces
        # is safe.
        self.write_dataframe(name, kept.unionAll(added))

    def _append(self, name: str, frame) -> None:
        """Add `frame`'s rows to the stored table as one directory of files inside the table's,
        written under a hidden name (readers skip names starting with '_') and moved into place
        in one rename: a killed append leaves all of its rows or none, and the next one removes
        what it left behind."""
        table = self.table_path(name)
        for left in self._fs.globStatus(self._path(f"{table}/{APPENDING}*")) or []:
            self._fs.delete(left.getPath(), True)
        part = uuid.uuid4().hex
        staging = f"{table}/{APPENDING}{part}"
        frame.write.parquet(staging)
        if not self._fs.rename(self._path(staging), self._path(f"{table}/{APPENDED}{part}")):
            raise OSError(f"could not move {staging} into {table}")
        # A new _SUCCESS: other processes' engines see the table changed and attach it again.
        self._fs.create(self._path(f"{table}/_SUCCESS"), True).close()
        self._attach(name)

    def write_files(self, name: str, write: Callable[[str], None]) -> None:
        """Replace the stored table `name` with the Parquet files `write(directory)` puts in a
        local directory (another process's writer, e.g. DuckDB's COPY), swapped in whole as
        write_dataframe does."""
        final, staging = self.table_path(name), self.table_path(name) + STAGING_SUFFIX
        self._fs.delete(self._path(staging), True)
        directory = local_path(staging)
        if directory is None:
            raise ValueError(f"write_files needs a local table location, not {self.location}")
        self._fs.mkdirs(self._path(staging))
        write(directory)
        self._fs.create(self._path(f"{staging}/_SUCCESS"), True).close()
        self._fs.delete(self._path(final), True)
        if not self._fs.rename(self._path(staging), self._path(final)):
            raise OSError(f"could not move {staging} to {final}")
        self._attach(name)

    def interrupt(self) -> None:
        self.session.sparkContext.cancelAllJobs()

    def _frame(self, table: pa.Table):
        return self.session.createDataFrame(table)

    # reading

    def fetch(self, query: str, params: list | None = None) -> list[tuple]:
        frame = self.session.sql(to_spark_sql(query), args=_args(params))
        return [tuple(row) for row in frame.collect()]

    def read_arrow(self, query: str) -> pa.Table:
        return self.session.sql(to_spark_sql(query)).toArrow()

    def table_exists(self, name: str) -> bool:
        return bool(self.session.catalog.tableExists(_name(name)))

    def columns(self, name: str) -> list[str]:
        return list(self.session.table(_name(name)).columns)

    # identity stages

    def create_temp_view(self, name: str, query: str) -> None:
        self.create_view(name, query)

    def drop_view(self, name: str) -> None:
        self.session.catalog.dropTempView(_name(name))

    # Splink

    def splink_api(self):
        splink = self.splink
        context = self.session.sparkContext
        local = splink.break_lineage == "local_checkpoint"
        if not local and context._jsc.sc().getCheckpointDir().isEmpty():
            context.setCheckpointDir(f"{self.location}/{SPLINK_WORK}")
        return _splink_api_class()(
            local_checkpoint=local,
            spark_session=self.session,
            break_lineage_method="persist" if local else splink.break_lineage,
            num_partitions_on_repartition=splink.num_partitions_on_repartition,
            repartition_after_blocking=splink.repartition_after_blocking,
        )

    def splink_sql(self, condition: str) -> str:
        return to_splink_spark_sql(condition)

    def drop_splink_tables(self) -> None:
        for table in self.session.catalog.listTables():
            if table.isTemporary and table.name.startswith("__splink__"):
                self.session.catalog.dropTempView(table.name)
        work = self._path(f"{self.location}/{SPLINK_WORK}")
        if self._fs.exists(work):
            self._fs.delete(work, True)

    def distribution(self, query: str):
        import numpy as np

        frame = self.session.sql(to_spark_sql(query))
        value = frame.columns[0]
        grouped = frame.groupBy(value).count().toArrow()
        return (
            np.asarray(grouped.column(0).to_numpy(zero_copy_only=False), dtype=float),
            np.asarray(grouped.column(1).to_numpy(zero_copy_only=False), dtype=float),
        )

    def create_indexed(self, name: str, query: str, order_by: str) -> None:
        from pyspark.sql.functions import monotonically_increasing_id

        # A range-partitioned sort, then ids that grow with the partition and the row in it.
        frame = self.session.sql(to_spark_sql(f"SELECT * FROM ({query}) ORDER BY {order_by}"))
        frame = frame.withColumn("idx", monotonically_increasing_id()).localCheckpoint()
        frame.createOrReplaceTempView(_name(name))

    # Up to this many nodes and edges (8 and 16 bytes each on the driver) the graph is collected
    # and settled by the same union-find as DuckDB's: two Spark jobs, where the propagation in
    # SQL takes about ten per round, which at small sizes is nearly all of clustering's time.
    # Larger graphs stay on the executors. The limit is what bounds the driver's share (a few
    # MB of arrays at most, whatever the brand's size): at 2M the driver's memory grew with the
    # records up to the limit, which is what Spark mode is there to avoid.
    driver_graph_limit = 250_000

    def components(self, name: str, nodes: str, edges: str) -> None:
        limit = self.driver_graph_limit
        ids = self.read_arrow(f"SELECT node FROM ({nodes}) LIMIT {limit + 1}")
        pairs = self.read_arrow(f"SELECT l, r FROM ({edges}) LIMIT {limit + 1}")
        if ids.num_rows > limit or pairs.num_rows > limit:
            propagate_components(self, name, nodes, edges)
            return
        node, component = component_labels(
            ids.column("node").to_numpy(),
            pairs.column("l").to_numpy(),
            pairs.column("r").to_numpy(),
        )
        self.register(name, pa.table({"node": node, "component": component}))


# Splink's EM counts the agreement patterns of the training pairs once, then each iteration
# scores those patterns and sums them into new m and u: a table of one row per pattern (hundreds),
# at every data size.
_PATTERN_COUNTS = "__splink__agreement_pattern_counts"
_AGGREGATED_COUNTS = "__splink__aggregated_m_u_counts_"


@lru_cache(maxsize=1)
def _splink_api_class():
    from splink import DuckDBAPI, SparkAPI
    from splink.internals.duckdb.dataframe import DuckDBDataFrame

    from braze_assets.engine.splink_dialects import register_duckdb_functions, spark_dialect

    class BrazeSparkAPI(SparkAPI):
        """Splink's SparkAPI with these execution changes, the same SQL and results.

        EM's iterations run on DuckDB: the agreement patterns are counted on Spark (over every
        training pair) and collected, and each iteration's query over those counts (Splink's own
        SQL, plain SQL for either engine) runs on the in-process DuckDB that Splink already uses
        for the iteration's last step (compute_proportions_for_new_parameters). On Spark each
        iteration was a query of a union of one aggregate per comparison over a view recounting
        the patterns: eight Spark jobs and about 2.6 s, whatever the data size, times tens of
        iterations per EM session.

        local_checkpoint: where Splink would persist a table, it is computed once into the block
        manager and its plan replaced by the stored rows. Splink has no such option, so its call
        to persist is redirected for the duration of the step (Splink calls it on the frame it is
        about to register)."""

        # DuckDB's record hash and string functions: DuckDB mode's samples and levels
        # (splink_dialects).
        sql_dialect = spark_dialect()()

        def __init__(self, *, local_checkpoint: bool = False, **kwargs):
            super().__init__(**kwargs)
            register_duckdb_functions(self.spark)
            self.local_checkpoint = local_checkpoint
            self._em_api = None

        def _local(self):
            if self._em_api is None:
                self._em_api = DuckDBAPI(self.duckdb_con)
            return self._em_api

        def sql_pipeline_to_splink_dataframe(self, pipeline):
            if pipeline.output_table_name == _PATTERN_COUNTS:
                counted = super().sql_pipeline_to_splink_dataframe(pipeline)
                patterns = counted.as_pyarrow_table()
                counted.drop_table_from_database_and_remove_from_cache()
                # Registered under the name the iterations' SQL reads it by.
                self._local().duckdb_con.register(counted.physical_name, patterns)
                return self._local().table_to_splink_dataframe(
                    _PATTERN_COUNTS, counted.physical_name
                )
            local = [f for f in pipeline.input_dataframes if isinstance(f, DuckDBDataFrame)]
            if local:
                return local[0].db_api.sql_pipeline_to_splink_dataframe(pipeline)
            return super().sql_pipeline_to_splink_dataframe(pipeline)

        def register(self, table, *, dataset_display_name=None, table_name=None):
            # u sampling's per-comparison counts, summed on the driver over its chunks, go
            # straight to the DuckDB step that turns them into u probabilities, not through a
            # Spark table and back (a job per comparison).
            if isinstance(table, list) and (table_name or "").startswith(_AGGREGATED_COUNTS):
                return self._local().register(table, table_name=table_name)
            return super().register(
                table, dataset_display_name=dataset_display_name, table_name=table_name
            )

        def _break_lineage_and_repartition(self, spark_df, templated_name, physical_name):
            if not self.local_checkpoint:
                return super()._break_lineage_and_repartition(
                    spark_df, templated_name, physical_name
                )
            frame_class = type(spark_df)
            persist = frame_class.persist
            frame_class.persist = lambda frame, *args, **kwargs: frame.localCheckpoint()
            try:
                return super()._break_lineage_and_repartition(
                    spark_df, templated_name, physical_name
                )
            finally:
                frame_class.persist = persist

    return BrazeSparkAPI
