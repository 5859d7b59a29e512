"""What must hold of a day's snapshot before anything of it is sent to Braze.

Run as a blocking asset check on attribute_snapshots (defs/snapshots/checks.py): while one fails,
the sync of that run does not start, and a sync run on its own refuses to send
(defs/sync/assets.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.sync.tables import SNAPSHOTS

# Braze refuses identifiers longer than this (external_id and user alias names alike).
MAX_IDENTIFIER_CHARS = 512
SAMPLE_ROWS = 5


@dataclass
class SnapshotGate:
    snapshot_date: dt.date | None
    rows: int = 0
    # problem -> rows affected, and a few (destination, identifier, attribute) examples
    problems: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[tuple]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(self.problems.values())

    def summary(self) -> str:
        bad = [f"{n:,} {problem}" for problem, n in self.problems.items() if n]
        return "; ".join(bad) if bad else "ok"


# problem -> SQL condition over one snapshot row (duplicates are counted separately)
_ROW_PROBLEMS = {
    "rows with an empty identifier": "trim(identifier) = ''",
    f"rows with an identifier over {MAX_IDENTIFIER_CHARS} characters": (
        f"length(identifier) > {MAX_IDENTIFIER_CHARS}"
    ),
    "rows whose value is not valid JSON": "NOT coalesce(json_valid(value_json), false)",
}
DUPLICATES = "rows sharing one (destination, identifier, attribute, element) key"


def check_snapshot(
    con,
    snapshot_date: dt.date | None = None,
    destination: str | None = None,
) -> SnapshotGate:
    """Check the day's rows (default: the latest day; default: every destination) for what Braze
    would get wrong or refuse. `con`: an Engine (the one the diff reads), or a DuckDB connection."""
    engine = as_engine(con)
    if not engine.table_exists(SNAPSHOTS):
        return SnapshotGate(None)
    if snapshot_date is None:
        snapshot_date = engine.fetch(f"SELECT max(snapshot_date) FROM {SNAPSHOTS}")[0][0]
        if snapshot_date is None:
            return SnapshotGate(None)
    gate = SnapshotGate(snapshot_date)
    day = f"FROM {SNAPSHOTS} WHERE snapshot_date = ?"
    params: list = [snapshot_date]
    if destination is not None:
        day += " AND destination = ?"
        params.append(destination)
    gate.rows = engine.fetch(f"SELECT count(*) {day}", params)[0][0]
    for problem, condition in _ROW_PROBLEMS.items():
        gate.problems[problem] = engine.fetch(f"SELECT count(*) {day} AND {condition}", params)[0][
            0
        ]
        if gate.problems[problem]:
            gate.samples[problem] = engine.fetch(
                f"""SELECT destination, identifier, attribute {day} AND {condition}
                    ORDER BY destination, identifier, attribute LIMIT {SAMPLE_ROWS}""",
                params,
            )
    duplicated = engine.fetch(
        f"""SELECT destination, identifier, attribute, count(*) AS n {day}
            GROUP BY destination, key_id, identifier, attribute HAVING count(*) > 1
            ORDER BY destination, identifier, attribute""",
        params,
    )
    gate.problems[DUPLICATES] = sum(row[3] for row in duplicated)
    if duplicated:
        gate.samples[DUPLICATES] = [tuple(row[:3]) for row in duplicated[:SAMPLE_ROWS]]
    return gate
