"""What the demo prints at the end and `braze-assets status` shows: numbers from the warehouse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from braze_assets import tables
from braze_assets.warehouse import connect, row_count, table_exists


def _sync_numbers(con, since: datetime | None) -> dict:
    """What the syncs that ran since `since` sent: a rerun with nothing changed shows zeros."""
    where = "sent_at >= ?" if since is not None else "true"
    params = [since.replace(tzinfo=None)] if since is not None else []
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


def flow_summary(warehouse: Path, since: datetime | None = None) -> dict:
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
            summary.update(_sync_numbers(con, since))
        return summary


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


def sync_status(warehouse: Path) -> str:
    if not warehouse.exists():
        return f"no warehouse at {warehouse} yet: run `braze-assets demo` or materialize the assets"
    with connect(warehouse, read_only=True) as con:
        if not table_exists(con, "braze_sync_results"):
            return "no sync has run yet"
        rows = con.execute(
            "SELECT run_id, destination, min(sent_at), count(*), "
            "count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'rejected'), "
            "count(*) FILTER (WHERE status = 'not_delivered') "
            "FROM braze_sync_results GROUP BY run_id, destination ORDER BY min(sent_at) DESC LIMIT 5"
        ).fetchall()
    lines = [
        f"{'run':<38} {'destination':<12} {'started':<20} {'rows':>8} {'delivered':>10} {'rejected':>9} {'pending':>8}"
    ]
    lines += [
        f"{r[0]:<38} {r[1]:<12} {str(r[2])[:19]:<20} {r[3]:>8,} {r[4]:>10,} {r[5]:>9,} {r[6]:>8,}"
        for r in rows
    ]
    return "\n".join(lines)
