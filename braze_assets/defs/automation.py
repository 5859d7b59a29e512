"""Declarative automation of the daily flow: sources -> customer 360 -> audiences -> Braze sync.

Every asset states when it should run as a Dagster `AutomationCondition`; one sensor,
`braze_assets_automation`, evaluates them. The sensor is STOPPED in a fresh deployment, so nothing
runs by itself until someone turns it on (UI: Automation tab, or
`dagster sensor start braze_assets_automation -w workspace.yaml`).

- Source files are reloaded once a day (SOURCES_CRON).
- Everything derived from them runs as soon as its inputs changed (`eager`), and only when the
  blocking checks on its direct inputs passed (`all_deps_blocking_checks_passed`): a failed
  uniqueness, identity or payload check stops the flow before it reaches Braze.
- A campaign's audience is re-evaluated on its own cadence (daily, weekly, cron ...) once the
  customer attributes have been rebuilt since that cadence's last tick; campaigns with cadence
  `once` are only ever run by hand.
- The day's snapshot follows the attributes and the audiences at once; each destination's sync
  sends the latest snapshot once per tick of its cron (`sync.yaml`), since every send costs data
  points.
- Currents ingestion is driven by its own S3 sensor (`currents_new_files`), an external event.

This module holds conditions only (no definitions); the sensor is in defs/jobs/definitions.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

AUTOMATION_SENSOR = "braze_assets_automation"
# Reload the source files at 05:00 UTC; campaign cadences start at 06:00 (audiences/cadence.py).
SOURCES_CRON = "0 5 * * *"


# A run may take a while after its tick; later than this past the next tick, the data is stale.
FRESHNESS_GRACE = dt.timedelta(hours=2)


def longest_interval(cron: str) -> dt.timedelta:
    """The longest gap between two ticks of `cron` over a year (months and weeks differ)."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    ticks = list(itertools.islice(cron_string_iterator(start, cron, "UTC"), 400))
    ticks = [t for t in ticks if t - ticks[0] <= dt.timedelta(days=366)]
    return max(b - a for a, b in itertools.pairwise(ticks))


def freshness(cron: str) -> dg.FreshnessPolicy:
    """Stale (fail) when not rebuilt within one interval of the cron that drives it, plus grace;
    warn an hour before."""
    window = longest_interval(cron) + FRESHNESS_GRACE
    return dg.FreshnessPolicy.time_window(
        fail_window=window, warn_window=window - dt.timedelta(hours=1)
    )


def sources() -> dg.AutomationCondition:
    return dg.AutomationCondition.on_cron(SOURCES_CRON).with_label("daily source reload")


def derived() -> dg.AutomationCondition:
    """Run as soon as an input changed, once the blocking checks on the inputs passed."""
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager, gated by blocking checks")


def derived_allow_missing() -> dg.AutomationCondition:
    """As `derived`, for an asset reading a partitioned input of which some partitions may never
    exist (Currents days with no files, campaigns run by hand that never ran)."""
    return (
        dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager (missing inputs allowed), gated by blocking checks")


def sync(cron: str) -> dg.AutomationCondition:
    """Once per cron tick, with today's snapshot built, no input running and the gates passed."""
    return (
        dg.AutomationCondition.in_latest_time_window()
        & dg.AutomationCondition.cron_tick_passed(cron).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label(f"on cron {cron} with today's snapshot, gated by blocking checks")


class InPartitions(dg.AutomationCondition):
    """True for the listed partitions of a statically partitioned asset (one campaign each)."""

    def __init__(self, keys: frozenset[str]):
        self.keys = keys

    @property
    def name(self) -> str:
        return f"in_partitions({', '.join(sorted(self.keys))})"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:  # ty: ignore
        selected = context.candidate_subset.compute_intersection_with_partition_keys(self.keys)
        return dg.AutomationResult(context=context, true_subset=selected)


def campaigns(cron_by_campaign: Mapping[str, str | None]) -> dg.AutomationCondition | None:
    """Each campaign partition on its own cadence, after the attributes were rebuilt since then."""
    by_cron: dict[str, set[str]] = {}
    for name, cron in cron_by_campaign.items():
        if cron is not None:
            by_cron.setdefault(cron, set()).add(name)
    parts = [
        (
            InPartitions(frozenset(names))
            & dg.AutomationCondition.on_cron(cron)
            & dg.AutomationCondition.all_deps_blocking_checks_passed()
        ).with_label(f"{', '.join(sorted(names))} on cron {cron}")
        for cron, names in sorted(by_cron.items())
    ]
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition = condition | part
    return condition
