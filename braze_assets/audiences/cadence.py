"""Campaign cadences: the named ones and five-field cron strings, as Dagster schedules read them.

The check is here rather than in Dagster so that a bad cron string fails at config load, naming
the campaign, instead of when the definitions are built.
"""

from __future__ import annotations

import re

# Sends go out early morning UTC, after the nightly customer 360 refresh.
NAMED_CADENCES = {
    "once": None,
    "daily": "0 6 * * *",
    "weekly": "0 6 * * 1",
    "monthly": "0 6 1 * *",
}

_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())},
    ),
    ("day of week", 0, 7, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")


def _number(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    value = names.get(text) if text in names else int(text) if text.isdigit() else None
    if value is None or not low <= value <= high:
        raise ValueError(f"{field} {text!r} is not in {low}-{high}")
    return value


def check_cron(expression: str) -> None:
    """Raise ValueError naming the bad field unless `expression` is a five-field cron string."""
    parts = expression.lower().split()
    if len(parts) != 5:
        raise ValueError(
            f"cron string {expression!r} must have 5 fields (minute hour day month weekday), got {len(parts)}"
        )
    for text, (field, low, high, names) in zip(parts, _FIELDS):
        for item in text.split(","):
            match = _ITEM.match(item)
            if not match:
                raise ValueError(
                    f"cron string {expression!r}: {field} {item!r} is not a value, range, list or step"
                )
            star, start, end, step = match.groups()
            if step is not None and int(step) == 0:
                raise ValueError(f"cron string {expression!r}: {field} step must be at least 1")
            if star:
                continue
            first = _number(start, low, high, names, field)
            if end is not None and _number(end, low, high, names, field) < first:
                raise ValueError(
                    f"cron string {expression!r}: {field} range {item!r} runs backwards"
                )


def cron_schedule(cadence: str) -> str | None:
    """The cron string for a cadence; None for `once` (run by hand, never scheduled)."""
    return NAMED_CADENCES[cadence] if cadence in NAMED_CADENCES else cadence


def check_cadence(cadence: str) -> str:
    if cadence not in NAMED_CADENCES:
        try:
            check_cron(cadence)
        except ValueError as exc:
            raise ValueError(f"{exc}; or use one of {', '.join(NAMED_CADENCES)}") from None
    return cadence
