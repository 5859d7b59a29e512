"""The blocking gate on attribute_snapshots: nothing of a bad snapshot is sent to Braze."""
# No `from __future__ import annotations` here: Dagster reads the context and resource annotations.

import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.defs.project import WAREHOUSE_POOL
from braze_assets.defs.resources import read_only_connection
from braze_assets.sync.gates import check_snapshot
from braze_assets.sync.tables import SNAPSHOTS

GATE = "payload_valid"


def gate_metadata(gate) -> dict:
    return {
        "snapshot_date": dg.MetadataValue.text(str(gate.snapshot_date)),
        "rows_checked": dg.MetadataValue.int(gate.rows),
        "problems": dg.MetadataValue.json(gate.problems),
        "samples": dg.MetadataValue.json(
            {problem: [list(row) for row in rows] for problem, rows in gate.samples.items()}
        ),
    }


@dg.asset_check(
    asset=SNAPSHOTS,
    name=GATE,
    pool=WAREHOUSE_POOL,
    blocking=True,
    description=(
        "The day's intended Braze state has one row per destination / identifier / attribute "
        "(uniqueness), no empty or over-long identifiers and only valid JSON values. Blocking: "
        "while it fails, the sync does not send."
    ),
)
def payload_valid(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    day = dt.date.fromisoformat(context.partition_key) if context.has_partition_key else None
    with read_only_connection(duckdb) as con:
        gate = check_snapshot(con, day)
    return dg.AssetCheckResult(
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if gate.passed else f"{gate.snapshot_date}: {gate.summary()}",
        metadata=gate_metadata(gate),
    )
