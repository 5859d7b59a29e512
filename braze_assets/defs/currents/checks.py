"""Quarantined Currents files: corrupt or truncated objects that were not loaded."""
# No `from __future__ import annotations` here: Dagster reads the resource annotations at runtime.

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.currents.ingest import EVENTS_TABLE, FILES_TABLE
from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.resources import read_only_connection
from braze_assets.warehouse import table_exists

MAX_LISTED = 20


def build_currents_checks() -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=EVENTS_TABLE,
        name="no_quarantined_files",
        pool=WAREHOUSE_POOL,
        description=(
            "Fails (as a warning) while any Currents file is quarantined: it could not be read as Avro "
            "(corrupt, truncated, missing `id`/`time`). The rest of its day loaded; re-uploading the "
            "file (new ETag) and materialising its day again loads it."
        ),
    )
    def no_quarantined_files(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with read_only_connection(duckdb) as con:
            if not table_exists(con, FILES_TABLE):
                return dg.AssetCheckResult(passed=True, description="no Currents file loaded yet")
            # A file quarantined under one ETag and loaded under a newer one is fixed.
            rows = con.execute(f"""
                SELECT q.key, q.event_date, q.error FROM {FILES_TABLE} q
                WHERE q.status = 'quarantined'
                  AND NOT EXISTS (SELECT 1 FROM {FILES_TABLE} l
                                  WHERE l.key = q.key AND l.status = 'loaded' AND l.loaded_at > q.loaded_at)
                ORDER BY q.event_date, q.key""").fetchall()
        listing = "\n".join(f"- `{key}` ({day}): {error}" for key, day, error in rows[:MAX_LISTED])
        more = f"\n- ... and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
        return dg.AssetCheckResult(
            passed=not rows,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(rows)} quarantined file(s)" if rows else None,
            metadata={
                "quarantined_files": dg.MetadataValue.int(len(rows)),
                "files": dg.MetadataValue.md((listing + more) or "_none_"),
                "event_dates": dg.MetadataValue.json(sorted({str(day) for _, day, _ in rows})),
            },
        )

    return [no_quarantined_files]
