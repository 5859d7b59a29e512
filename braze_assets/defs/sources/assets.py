"""One asset per declared source: the raw tables everything else is built from."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import dagster as dg

from braze_assets import settings
from braze_assets.config.sources import (
    TABLE_FORMATS,
    SourceConfig,
    TransactionSourceConfig,
    path_format,
    path_scheme,
)
from braze_assets.defs import automation
from braze_assets.defs.engine import (
    active_engine,
    duckdb_stage_args,
    export_to_spark,
    spark_engine,
)
from braze_assets.defs.project import OWNERS, project_config, table_metadata
from braze_assets.sources.engine_load import (
    engine_load_refusal,
    load_source_on_engine,
    parquet_view,
)
from braze_assets.sources.incremental import load_source, raw_table_name

GROUP = "sources"

__all__ = ["build_source_assets", "raw_table_name"]


class SourceLoadConfig(dg.Config):
    full_reload: bool = False
    """Read the whole source even when it loads incrementally (resets its watermark)."""


def on_spark(entry: SourceConfig | TransactionSourceConfig) -> bool:
    """Whether Spark mode reads this source on Spark (sources/engine_load.py says which do not)."""
    engine = active_engine()
    if engine.name != "spark":
        return False
    from braze_assets.engine.spark_engine import local_path

    return engine_load_refusal(entry, local_path(engine.spark.location()) is not None) is None


def _kinds(entry: SourceConfig | TransactionSourceConfig) -> set[str]:
    if entry.postgres is not None:
        return {"duckdb", "postgres"}
    assert entry.path is not None
    fmt = path_format(entry.path, entry.format)
    reader = "spark" if on_spark(entry) else "duckdb"
    kinds = {reader, {"s3": "s3", "gs": "gcs"}.get(path_scheme(entry.path) or "", "csv")}
    if fmt in TABLE_FORMATS:
        kinds = (kinds - {"csv"}) | {fmt}
    return kinds


def _source_asset(entry: SourceConfig | TransactionSourceConfig) -> dg.AssetsDefinition:
    table = raw_table_name(entry)
    kind = "customer records" if isinstance(entry, SourceConfig) else "transactions"
    spark = on_spark(entry)
    how = (
        "incrementally (rows changed since the last load)"
        if isinstance(entry, SourceConfig) and entry.incremental
        else "in full"
    )

    @dg.asset(
        name=table,
        group_name=GROUP,
        kinds=_kinds(entry),
        owners=OWNERS,
        **duckdb_stage_args(),
        automation_condition=automation.sources(),
        description=f"Raw {kind} of source `{entry.name}` loaded as text {how} from "
        f"`{entry.location}`" + (", each file read in a Spark task." if spark else "."),
        tags={"layer": "raw"},
    )
    def _load(context: dg.AssetExecutionContext, config: SourceLoadConfig) -> dg.MaterializeResult:
        engine = spark_engine(context) if spark else None
        with context.resources.duckdb.get_connection() as con:
            if engine is not None:
                from braze_assets.engine.spark_engine import local_path

                # Spark mode: each file read in a Spark task; the warehouse gets a view of the
                # table's Parquet files for the stages still on DuckDB (the lifecycle's consent
                # and orders), so no row is copied back to the driver.
                load = load_source_on_engine(con, engine, entry, settings.data_dir())
                parquet_view(con, table, local_path(engine.table_path(table)))
            else:
                load = load_source(con, entry, settings.data_dir(), full_reload=config.full_reload)
                # Spark mode, a source Spark does not read: the raw table to the table location,
                # where the Spark stages read it (on a local location DuckDB writes the Parquet
                # files; the driver never holds it).
                export_to_spark(context, [table], con)
            metadata = table_metadata(con, table)
        report = load.report
        if report.empty_columns:
            context.log.warning(
                f"{entry.name}: declared columns with no values: {', '.join(report.empty_columns)}"
            )
        if load.reason:
            context.log.info(f"{entry.name}: read in full: {load.reason}")
        extra = {}
        if load.watermark is not None:
            extra["watermark"] = dg.MetadataValue.text(load.watermark)
        if load.rows_scanned is not None:
            extra["rows_scanned"] = dg.MetadataValue.int(load.rows_scanned)
        if load.files_total is not None:
            extra["files_read"] = dg.MetadataValue.int(load.files_read)
            extra["files_total"] = dg.MetadataValue.int(load.files_total)
        if load.keys_scanned is not None:
            extra["keys_scanned"] = dg.MetadataValue.int(load.keys_scanned)
        if load.reason:
            extra["full_load_reason"] = dg.MetadataValue.text(load.reason)
        location = (
            dg.MetadataValue.path(str(report.path))
            if entry.path and not path_scheme(entry.path)
            else dg.MetadataValue.text(entry.location)
        )
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "source_file": location,
                "load_mode": dg.MetadataValue.text(load.mode),
                "rows_read": dg.MetadataValue.int(load.rows_read),
                "rows_deleted": dg.MetadataValue.int(load.rows_deleted),
                "duplicate_primary_keys": dg.MetadataValue.int(report.duplicate_keys),
                "empty_declared_columns": dg.MetadataValue.int(len(report.empty_columns)),
                **extra,
            }
        )

    return _load


def build_source_assets(
    config=None,
) -> list[dg.AssetsDefinition]:
    config = config or project_config()
    return [_source_asset(entry) for entry in [*config.sources, *config.transactions]]
