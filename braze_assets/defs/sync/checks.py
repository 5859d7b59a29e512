"""Checks on each destination's sync: Braze rejections, and a dry-run preview against the budget."""
# No `from __future__ import annotations` here: Dagster reads the resource annotations at runtime.

from collections.abc import Callable
from typing import TypeVar

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.attributes.config import DestinationConfig
from braze_assets.defs.project import WAREHOUSE_POOL, table_value
from braze_assets.defs.resources import read_only_connection
from braze_assets.defs.sync.assets import resolved_settings, run_sync, sync_asset_key
from braze_assets.sync.config import SyncConfig
from braze_assets.sync.runner import SyncBlocked
from braze_assets.sync.tables import REJECTIONS, SNAPSHOTS, ensure_tables
from braze_assets.warehouse import table_exists

SAMPLE_ROWS = 20
T = TypeVar("T")


def preview(duckdb: DuckDBResource, dry_run: Callable[..., T]) -> T | dg.AssetCheckResult:
    """`dry_run(con)` on a warehouse connection with the sync tables in place, or a passing result
    saying the preview was skipped while a sync of the destination runs (it holds the lock)."""
    with duckdb.get_connection() as con:
        ensure_tables(con)
        try:
            return dry_run(con)
        except SyncBlocked as exc:
            return dg.AssetCheckResult(passed=True, description=f"preview skipped: {exc}")


def build_sync_checks(
    destination: DestinationConfig, config: SyncConfig
) -> list[dg.AssetChecksDefinition]:
    key = sync_asset_key(destination.name)

    @dg.asset_check(
        asset=key,
        name="rejected_rows",
        pool=WAREHOUSE_POOL,
        description=(
            "Values Braze rejected as invalid (per-object errors). They are not retried until their intended value "
            "changes; fix the source or the mapping. Warns while any are outstanding."
        ),
    )
    def rejected_rows(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with read_only_connection(duckdb) as con:
            if not table_exists(con, REJECTIONS):
                return dg.AssetCheckResult(passed=True, description="no sync has run yet")
            by_reason = con.execute(
                f"""SELECT attribute, reason, count(*) AS values, count(DISTINCT identifier) AS profiles
                    FROM {REJECTIONS} WHERE destination = ? GROUP BY ALL ORDER BY values DESC""",
                [destination.name],
            ).fetchall()
            sample = con.execute(
                f"""SELECT identifier, attribute, element, op, value_json, reason, rejected_at FROM {REJECTIONS}
                    WHERE destination = ? ORDER BY rejected_at DESC, identifier LIMIT {SAMPLE_ROWS}""",
                [destination.name],
            ).fetchall()
        total = sum(r[2] for r in by_reason)
        return dg.AssetCheckResult(
            passed=total == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{total} values rejected by Braze are held back" if total else None,
            metadata={
                "rejected_values": dg.MetadataValue.int(total),
                "by_attribute_and_reason": table_value(
                    by_reason, ("attribute", "reason", "values", "profiles")
                ),
                "sample": table_value(
                    sample,
                    (
                        "identifier",
                        "attribute",
                        "element",
                        "op",
                        "value_json",
                        "reason",
                        "rejected_at",
                    ),
                ),
            },
        )

    @dg.asset_check(
        asset=key,
        name="data_point_budget",
        pool=WAREHOUSE_POOL,
        description=(
            "Dry run of the next sync (nothing is sent): adds, changes, removes, joins, leaves, values held back "
            "as invalid, the billable data points it would spend and sample payloads. Fails when the forecast "
            "exceeds the destination's per-run budget."
        ),
    )
    def data_point_budget(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        resolved = resolved_settings(destination, config)

        def dry_run(con):
            has_snapshot = con.execute(
                f"SELECT count(*) FROM {SNAPSHOTS} WHERE destination = ?", [destination.name]
            ).fetchone()[0]
            if not has_snapshot:
                return dg.AssetCheckResult(passed=True, description="no attribute_snapshots yet")
            return run_sync(con, None, destination, resolved, None, dry_run=True)

        report = preview(duckdb, dry_run)
        if isinstance(report, dg.AssetCheckResult):
            return report
        d = report.diff
        budget = report.data_point_budget
        over = report.over_budget and not resolved.override_budget
        return dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"the next sync would spend {d.forecast_data_points:,} data points, over the budget of {budget:,}"
                if over
                else None
            ),
            metadata={
                "forecast_data_points": dg.MetadataValue.int(d.forecast_data_points),
                "budget": dg.MetadataValue.int(budget)
                if budget is not None
                else dg.MetadataValue.text("none"),
                "objects": dg.MetadataValue.int(d.objects),
                **{
                    name: dg.MetadataValue.int(getattr(d, name))
                    for name in (
                        "adds",
                        "changes",
                        "removes",
                        "joins",
                        "leaves",
                        "held_back",
                        "deferred",
                    )
                },
                "snapshot_date": dg.MetadataValue.text(str(report.snapshot_date)),
                "sample_payloads": dg.MetadataValue.md(
                    "\n\n".join(f"```json\n{s}\n```" for s in report.samples) or "_nothing to send_"
                ),
            },
        )

    return [rejected_rows, data_point_budget]
