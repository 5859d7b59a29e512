"""One asset per declared source file: the raw tables everything else is built from."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations at runtime.

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets import settings
from braze_assets.config.sources import SourceConfig, TransactionSourceConfig
from braze_assets.defs import automation
from braze_assets.defs.project import OWNERS, WAREHOUSE_POOL, project_config, table_metadata
from braze_assets.sources.load import load_table, resolve_path

GROUP = "sources"


def _required_columns(entry: SourceConfig | TransactionSourceConfig) -> list[str]:
    if isinstance(entry, SourceConfig):
        return [entry.primary_key, entry.updated_at, *entry.columns]
    optional = [entry.items, entry.channel]
    return [
        entry.primary_key,
        entry.customer_key,
        entry.ordered_at,
        entry.revenue,
        *filter(None, optional),
    ]


def raw_table_name(entry: SourceConfig | TransactionSourceConfig) -> str:
    return f"raw_{entry.name}" if isinstance(entry, SourceConfig) else f"raw_txn_{entry.name}"


def _source_asset(entry: SourceConfig | TransactionSourceConfig) -> dg.AssetsDefinition:
    table = raw_table_name(entry)
    kind = "customer records" if isinstance(entry, SourceConfig) else "transactions"

    @dg.asset(
        name=table,
        group_name=GROUP,
        kinds={"duckdb", "csv"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        automation_condition=automation.sources(),
        description=f"Raw {kind} of source `{entry.name}` loaded as text from `{entry.path}`.",
        tags={"layer": "raw"},
    )
    def _load(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        path = resolve_path(entry.path, settings.data_dir())
        with duckdb.get_connection() as con:
            report = load_table(
                con,
                source=entry.name,
                table=table,
                path=path,
                required_columns=_required_columns(entry),
                primary_key=entry.primary_key,
            )
            metadata = table_metadata(con, table)
        if report.empty_columns:
            context.log.warning(
                f"{entry.name}: declared columns with no values: {', '.join(report.empty_columns)}"
            )
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "source_file": dg.MetadataValue.path(str(path)),
                "duplicate_primary_keys": dg.MetadataValue.int(report.duplicate_keys),
                "empty_declared_columns": dg.MetadataValue.int(len(report.empty_columns)),
            }
        )

    return _load


def build_source_assets() -> list[dg.AssetsDefinition]:
    config = project_config()
    return [_source_asset(entry) for entry in [*config.sources, *config.transactions]]
