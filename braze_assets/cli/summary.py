"""What the demo prints at the end and `braze-assets status` shows: numbers from the warehouse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from braze_assets import tables
from braze_assets.warehouse import connect, row_count


def _sync_numbers(con, sync_runs: list[str] | None) -> dict:
    """What the given sync runs sent (all runs when None): a rerun with nothing changed shows zeros."""
    where = "list_contains(?::VARCHAR[], run_id)" if sync_runs is not None else "true"
    params = [sync_runs] if sync_runs is not None else []
    profiles, values, points, rejected, pending = con.execute(
        "SELECT count(*) FILTER (WHERE status = 'delivered'), "
        "coalesce(sum(len(attributes)) FILTER (WHERE status = 'delivered'), 0), "
        "coalesce(sum(data_points) FILTER (WHERE status = 'delivered'), 0), "
        "count(*) FILTER (WHERE status = 'rejected'), count(*) FILTER (WHERE status = 'not_delivered') "
        f"FROM braze_sync_results WHERE {where}",
        params,
    ).fetchone()
    return {
        "Braze profiles updated": profiles,
        "attribute values sent": values,
        "data points spent": points,
        "objects rejected by Braze": rejected,
        "objects not delivered (retried next run)": pending,
    }


def flow_summary(
    warehouse: Path, sync_runs: list[str] | None = None, since: datetime | None = None
) -> dict:
    with connect(warehouse, read_only=True) as con:
        present = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        raw = [t for t in present if t.startswith("raw_") and not t.startswith("raw_txn_")]
        summary = {
            "source records": sum(row_count(con, t) for t in raw),
            "unified customers": row_count(con, tables.CUSTOMER_360)
            if tables.CUSTOMER_360 in present
            else 0,
            "audiences": {},
            "currents events": row_count(con, tables.CURRENTS_EVENTS)
            if tables.CURRENTS_EVENTS in present
            else 0,
        }
        if tables.AUDIENCE_MEMBERS in present:
            summary["audiences"] = dict(
                con.execute(
                    "SELECT campaign, count(*) FILTER (WHERE member_group = 'treatment') FROM audience_members "
                    "GROUP BY campaign ORDER BY campaign"
                ).fetchall()
            )
        if "braze_sync_results" in present:
            summary.update(_sync_numbers(con, sync_runs))
        summary.update(_lifecycle_numbers(con, present, since))
        return summary


# (summary line, table, statuses counted, time column) for the lifecycle numbers.
_LIFECYCLE_COUNTS = [
    (
        "Braze profiles merged",
        "braze_profile_merges",
        "('merged', 'left_and_cleared')",
        "recorded_at",
    ),
    ("Braze profiles deleted", "braze_profile_deletions", "('deleted')", "recorded_at"),
    ("order events sent (once each)", "braze_event_log", "('confirmed')", "sent_at"),
]


def _lifecycle_numbers(con, tables: list[str], since: datetime | None) -> dict:
    """Merges, deletions and order events of the runs since `since` (zeros on a quiet rerun)."""
    params = [since.replace(tzinfo=None)] if since is not None else []
    numbers = {}
    for label, table, status, at in _LIFECYCLE_COUNTS:
        if table in tables:
            where = f"{at} >= ?" if since is not None else "true"
            numbers[label] = con.execute(
                f"SELECT count(*) FROM {table} WHERE status IN {status} AND {where}", params
            ).fetchone()[0]
    return numbers


def format_summary(summary: dict) -> str:
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines.extend(f"    {name:<40} {count:>10,}" for name, count in value.items())
        elif isinstance(value, int):
            lines.append(f"  {key:<42} {value:>10,}")
        else:
            lines.append(f"  {key:<42} {value}")
    return "\n".join(lines)
