"""Checks on braze_customer_attributes: rejected values, and what each attribute costs in data points."""
# No `from __future__ import annotations` here: Dagster reads the resource annotations at runtime.

from collections.abc import Sequence

import dagster as dg
from dagster_duckdb import DuckDBResource

from braze_assets.attributes import (
    ATTRIBUTES_TABLE,
    REJECTIONS_TABLE,
    DestinationConfig,
    attribute_change_cost,
)
from braze_assets.defs.project import WAREHOUSE_POOL, table_value
from braze_assets.defs.resources import read_only_connection
from braze_assets.warehouse import table_exists

# A source with more than this share of an attribute's values invalid needs fixing upstream.
MAX_INVALID_SHARE = 0.05
# A week covers weekly cycles and keeps the check cheap on large snapshots (it scans every row).
COST_WINDOW_DAYS = 7


def build_attribute_checks(
    destinations: Sequence[DestinationConfig],
) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=ATTRIBUTES_TABLE,
        name="rejected_values",
        pool=WAREHOUSE_POOL,
        description=(
            f"Values excluded from the payload (bad gender, country, phone, email, too long, ...), counted by "
            f"attribute and reason; warns when over {MAX_INVALID_SHARE:.0%} of an attribute's values are invalid."
        ),
    )
    def rejected_values(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with read_only_connection(duckdb) as con:
            if not table_exists(con, REJECTIONS_TABLE):
                return dg.AssetCheckResult(
                    passed=False, description=f"{REJECTIONS_TABLE} does not exist yet"
                )
            counts = (
                con.execute(f"""
                SELECT destination, attribute, reason, count(*) AS count
                FROM {REJECTIONS_TABLE} GROUP BY ALL ORDER BY destination, attribute, count DESC""")
                .pl()
                .to_dicts()
            )
            profiles = dict(
                con.execute(
                    f"SELECT destination, count(*) FROM {ATTRIBUTES_TABLE} GROUP BY destination"
                ).fetchall()
            )
        totals: dict[tuple[str, str], int] = {}
        for row in counts:
            key = (row["destination"], row["attribute"])
            totals[key] = totals.get(key, 0) + row["count"]
        worst = sorted(
            (
                (count / max(profiles.get(dest, 0), 1), dest, attr)
                for (dest, attr), count in totals.items()
            ),
            reverse=True,
        )
        over = [
            f"{dest}.{attr} ({share:.1%})"
            for share, dest, attr in worst
            if share > MAX_INVALID_SHARE
        ]
        return dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            description=("invalid share over limit: " + ", ".join(over)) if over else None,
            metadata={
                "rejected_values": dg.MetadataValue.int(sum(totals.values())),
                "by_attribute_and_reason": table_value(
                    counts, ("destination", "attribute", "reason", "count")
                ),
            },
        )

    @dg.asset_check(
        asset=ATTRIBUTES_TABLE,
        name="data_point_cost",
        pool=WAREHOUSE_POOL,
        description=(
            f"From the last {COST_WINDOW_DAYS} days of attribute_snapshots: how often each attribute changes and "
            "what it costs in Braze data points per month; warns on billable high-churn attributes."
        ),
    )
    def data_point_cost(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with read_only_connection(duckdb) as con:
            insight = [
                dict(r, destination=d.name)
                for d in destinations
                for r in attribute_change_cost(con, d, COST_WINDOW_DAYS)
            ]
        churny = [r for r in insight if r["high_churn"] and r["billable"]]
        columns = (
            "destination",
            "attribute",
            "daily_change_share",
            "data_points_per_month",
            "pattern",
            "suggestion",
        )
        return dg.AssetCheckResult(
            passed=not churny,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "no snapshots yet"
                if not insight
                else "high-churn attributes: "
                + ", ".join(f"{r['destination']}.{r['attribute']}" for r in churny)
                if churny
                else None
            ),
            metadata={
                "data_points_per_month": dg.MetadataValue.int(
                    sum(r["data_points_per_month"] for r in insight)
                ),
                "attributes": table_value(insight, columns),
            },
        )

    return [rejected_values, data_point_cost]
