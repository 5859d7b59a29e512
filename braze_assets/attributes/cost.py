"""Cost insight: how often each attribute's value changes day to day and what that costs.

Braze bills a data point for every attribute value written, and a change-only sync writes exactly
the values that changed, so an attribute's monthly cost is about (changes per day x 30). Counters of
days since something, and floats with many digits, change for most profiles every day; both have a
stable alternative (send the date once, or bucket / round), which the insight suggests.
"""

from __future__ import annotations

import duckdb

from braze_assets import tables
from braze_assets.attributes.config import DestinationConfig
from braze_assets.attributes.fields import is_billable
from braze_assets.warehouse import table_columns, table_exists

SNAPSHOTS_TABLE = tables.ATTRIBUTE_SNAPSHOTS
DAYS_PER_MONTH = 30
# An attribute whose value changes for more than this share of its profiles per day is high-churn.
HIGH_CHURN_SHARE = 0.05

# Array attributes have one row per element (`element`; '' for scalars): each element added or
# removed is a data point of its own, so elements are compared one by one. Each value is compared
# with the same key's row on the previous snapshot date through window functions (one sort, no
# self-join): a new or different value is a change on its date, a value gone the next date is one too.
_CHANGES_SQL = """
WITH s AS (
    SELECT CAST(snapshot_date AS DATE) AS d, identifier, attribute, {element} AS element, value_json
    FROM {SNAPSHOTS_TABLE}
    WHERE destination = $destination
      AND CAST(snapshot_date AS DATE) >= (
          SELECT max(CAST(snapshot_date AS DATE)) FROM {SNAPSHOTS_TABLE} WHERE destination = $destination
      ) - CAST($days AS INTEGER)
),
dates AS (
    SELECT d, lag(d) OVER (ORDER BY d) AS prev, lead(d) OVER (ORDER BY d) AS next FROM (SELECT DISTINCT d FROM s)
),
w AS (
    SELECT s.attribute, s.d, dates.prev, dates.next, s.value_json,
           lag(s.d) OVER k AS key_prev_d, lag(s.value_json) OVER k AS key_prev_value, lead(s.d) OVER k AS key_next_d
    FROM s JOIN dates USING (d)
    WINDOW k AS (PARTITION BY s.identifier, s.attribute, s.element ORDER BY s.d)
),
changes AS (
    SELECT attribute, d, prev, value_json AS new, CASE WHEN key_prev_d = prev THEN key_prev_value END AS old
    FROM w
    WHERE prev IS NOT NULL AND (key_prev_d IS DISTINCT FROM prev OR key_prev_value IS DISTINCT FROM value_json)
    UNION ALL
    SELECT attribute, next AS d, d AS prev, NULL AS new, value_json AS old
    FROM w WHERE next IS NOT NULL AND key_next_d IS DISTINCT FROM next
),
pairs AS (SELECT count(*) AS pairs FROM dates WHERE prev IS NOT NULL),
present AS (SELECT attribute, count(*) FILTER (WHERE prev IS NOT NULL) AS values_compared FROM w GROUP BY attribute),
summary AS (
    SELECT attribute,
           count(*) AS changes,
           sum(1.0 / date_diff('day', prev, d)) AS changes_per_day_total,
           count(*) FILTER (WHERE TRY_CAST(new AS DOUBLE) - TRY_CAST(old AS DOUBLE) = date_diff('day', prev, d))
               AS counter_steps,
           count(*) FILTER (WHERE regexp_matches(new, '^-?[0-9]+\\.[0-9]{3,}')) AS precise_values
    FROM changes GROUP BY attribute
)
SELECT p.attribute, pairs.pairs, p.values_compared / nullif(pairs.pairs, 0) AS profiles,
       coalesce(c.changes, 0) AS changes, coalesce(c.changes_per_day_total, 0) AS changes_per_day_total,
       coalesce(c.counter_steps, 0) AS counter_steps, coalesce(c.precise_values, 0) AS precise_values
FROM present p CROSS JOIN pairs LEFT JOIN summary c USING (attribute)
WHERE pairs.pairs > 0
ORDER BY p.attribute
"""


def _pattern(
    row: dict, mapping_type: str | None, has_transform: bool
) -> tuple[str | None, str | None]:
    changes = row["changes"] or 0
    if changes and row["counter_steps"] / changes > 0.5:
        return (
            "relative-date counter",
            "send the underlying date once (type date) or bucket it, e.g. "
            "transform: {bucket: {thresholds: [90, 365], labels: [active, lapsing, lapsed]}}",
        )
    precise = changes and row["precise_values"] / changes > 0.5
    if precise or (mapping_type == "float" and not has_transform):
        return (
            "high-precision number",
            "round it (transform: {round: {digits: 0}} or {round: {step: 10}}) or bucket it into tiers",
        )
    return (
        None,
        "bucket it into a few stable labels, or send it only to campaign members (scope: campaign_members)",
    )


def attribute_change_cost(
    con: duckdb.DuckDBPyConnection, destination: DestinationConfig, days: int
) -> list[dict]:
    """Per attribute over the last `days` days of snapshots: daily change share, data points per month,
    and for high-churn attributes the pattern seen and the transform to use instead."""
    if not table_exists(con, SNAPSHOTS_TABLE):
        return []
    element = "coalesce(element, '')" if "element" in table_columns(con, SNAPSHOTS_TABLE) else "''"
    sql = _CHANGES_SQL.replace("{SNAPSHOTS_TABLE}", SNAPSHOTS_TABLE).replace("{element}", element)
    cursor = con.execute(sql, {"destination": destination.name, "days": int(days)})
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
            if high
            else (None, None)
        )
        insight.append(
            {
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
            }
        )
    return sorted(insight, key=lambda r: (-r["data_points_per_month"], r["attribute"]))
