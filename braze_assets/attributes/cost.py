"""Cost insight: how often each attribute's value changes day to day and what that costs.

Braze bills a data point for every attribute value written, and a change-only sync writes exactly
the values that changed, so an attribute's monthly cost is about (changes per day x 30). Counters of
days since something, and floats with many digits, change for most profiles every day; both have a
stable alternative (send the date once, or bucket / round), which the insight suggests.
"""

from __future__ import annotations

import duckdb

from braze_assets.attributes.config import DestinationConfig
from braze_assets.attributes.fields import is_billable
from braze_assets.warehouse import table_exists

SNAPSHOTS_TABLE = "attribute_snapshots"
DAYS_PER_MONTH = 30
# An attribute whose value changes for more than this share of its profiles per day is high-churn.
HIGH_CHURN_SHARE = 0.05

_CHANGES_SQL = f"""
WITH s AS (
    SELECT CAST(snapshot_date AS DATE) AS d, identifier, attribute, value_json
    FROM {SNAPSHOTS_TABLE}
    WHERE destination = $destination
      AND CAST(snapshot_date AS DATE) >= (
          SELECT max(CAST(snapshot_date AS DATE)) FROM {SNAPSHOTS_TABLE} WHERE destination = $destination
      ) - CAST($days AS INTEGER)
),
dates AS (SELECT DISTINCT d FROM s),
pairs AS (SELECT d, lag(d) OVER (ORDER BY d) AS prev FROM dates QUALIFY prev IS NOT NULL),
keys AS (
    SELECT DISTINCT p.d, p.prev, s.identifier, s.attribute
    FROM pairs p JOIN s ON s.d = p.d OR s.d = p.prev
),
compared AS (
    SELECT k.d, k.prev, k.attribute, new.value_json AS new, old.value_json AS old,
           new.value_json IS DISTINCT FROM old.value_json AS changed
    FROM keys k
    LEFT JOIN s new ON new.d = k.d AND new.identifier = k.identifier AND new.attribute = k.attribute
    LEFT JOIN s old ON old.d = k.prev AND old.identifier = k.identifier AND old.attribute = k.attribute
)
SELECT attribute,
       count(DISTINCT d) AS pairs,
       count(*) FILTER (WHERE new IS NOT NULL) / count(DISTINCT d) AS profiles,
       count(*) FILTER (WHERE changed) AS changes,
       sum(CASE WHEN changed THEN 1.0 / date_diff('day', prev, d) ELSE 0 END) AS changes_per_day_total,
       count(*) FILTER (WHERE changed AND TRY_CAST(new AS DOUBLE) - TRY_CAST(old AS DOUBLE)
                        = date_diff('day', prev, d)) AS counter_steps,
       count(*) FILTER (WHERE changed AND regexp_matches(new, '^-?[0-9]+\\.[0-9]{{3,}}')) AS precise_values
FROM compared
GROUP BY attribute
ORDER BY attribute
"""


def _pattern(row: dict, mapping_type: str | None, has_transform: bool) -> tuple[str | None, str | None]:
    changes = row["changes"] or 0
    if changes and row["counter_steps"] / changes > 0.5:
        return ("relative-date counter",
                "send the underlying date once (type date) or bucket it, e.g. "
                "transform: {bucket: {thresholds: [90, 365], labels: [active, lapsing, lapsed]}}")
    precise = changes and row["precise_values"] / changes > 0.5
    if precise or (mapping_type == "float" and not has_transform):
        return ("high-precision number",
                "round it (transform: {round: {digits: 0}} or {round: {step: 10}}) or bucket it into tiers")
    return None, "bucket it into a few stable labels, or send it only to campaign members (scope: campaign_members)"


def attribute_change_cost(con: duckdb.DuckDBPyConnection, destination: DestinationConfig, days: int) -> list[dict]:
    """Per attribute over the last `days` days of snapshots: daily change share, data points per month,
    and for high-churn attributes the pattern seen and the transform to use instead."""
    if not table_exists(con, SNAPSHOTS_TABLE):
        return []
    cursor = con.execute(_CHANGES_SQL, {"destination": destination.name, "days": int(days)})
    names = [c[0] for c in cursor.description]
    mappings = {m.name: m for m in destination.attributes}
    insight = []
    for values in cursor.fetchall():
        row = dict(zip(names, values))
        pairs = row["pairs"]
        profiles = float(row["profiles"] or 0)
        per_day = float(row["changes_per_day_total"] or 0) / pairs if pairs else 0.0
        share = per_day / profiles if profiles else 0.0
        billable = is_billable(row["attribute"])
        mapping = mappings.get(row["attribute"])
        high = share > HIGH_CHURN_SHARE
        pattern, suggestion = (
            _pattern(row, mapping.type if mapping else None, bool(mapping and mapping.transform))
            if high else (None, None)
        )
        insight.append({
            "attribute": row["attribute"],
            "billable": billable,
            "profiles": round(profiles, 1),
            "days_compared": pairs,
            "daily_change_share": round(share, 4),
            "changes_per_day": round(per_day, 2),
            "data_points_per_month": round(per_day * DAYS_PER_MONTH) if billable else 0,
            "high_churn": high,
            "pattern": pattern,
            "suggestion": suggestion,
        })
    return sorted(insight, key=lambda r: (-r["data_points_per_month"], r["attribute"]))
