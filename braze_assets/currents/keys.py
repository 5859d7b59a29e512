"""Braze Currents object keys.

Braze writes `<prefix>/dataexport.<cluster>.S3.integration.<id>/event_type=<type>/date=<YYYY-MM-DD-HH>/
version=<n>/<environment>/<file>.avro` (older connectors: `<schema-id>/<zone>/` instead of
`version=<n>/<environment>/`) and warns that the naming may change. So the parser relies only on
the `event_type=` and `date=` components and the `.avro` suffix; everything else is read when it is
there and ignored when it is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:-(\d{2}))?$")
_INTEGRATION = re.compile(r"\.integration\.([^.+/]+)")
_VERSION = re.compile(r"^version=(.+)$")


@dataclass(frozen=True)
class CurrentsKey:
    key: str
    event_type: str
    hour: datetime  # UTC, from date=YYYY-MM-DD-HH (hour 0 when Braze leaves the hour out)
    date: date
    integration: str | None
    version: str | None  # `version=<n>` in the v2 layout, the schema id in the legacy layout
    environment_or_zone: str | None
    layout: str  # "v2" | "legacy"

    @property
    def partition_key(self) -> str:
        """Daily partition the file belongs to (the Dagster partition key)."""
        return self.date.isoformat()

    @property
    def hour_prefix(self) -> str:
        """Key prefix of the `date=` folder this file sits in, including the trailing slash."""
        parts = self.key.split("/")
        return "/".join(parts[: _last_index(parts, "date=") + 1]) + "/"


def parse_date_part(value: str) -> datetime | None:
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day, hour = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), tzinfo=UTC)
    except ValueError:
        return None


def parse_key(key: str) -> CurrentsKey | None:
    """Parse a Currents object key; None when the key is not a Currents Avro file."""
    if not key.endswith(".avro"):
        return None
    parts = key.split("/")
    type_index = _last_index(parts, "event_type=")
    date_index = _last_index(parts, "date=")
    if type_index is None or date_index is None or date_index < type_index:
        return None
    event_type = parts[type_index][len("event_type=") :]
    hour = parse_date_part(parts[date_index][len("date=") :])
    if not event_type or hour is None or date_index == len(parts) - 1:
        return None

    between = parts[date_index + 1 : -1]
    version_match = _VERSION.match(between[0]) if between else None
    layout = "v2" if version_match else "legacy"
    version = version_match.group(1) if version_match else (between[0] if between else None)
    environment = between[1] if len(between) > 1 else None
    integration = _INTEGRATION.search("/".join(parts[:type_index])) or _INTEGRATION.search(
        parts[-1]
    )
    return CurrentsKey(
        key=key,
        event_type=event_type,
        hour=hour,
        date=hour.date(),
        integration=integration.group(1) if integration else None,
        version=version,
        environment_or_zone=environment,
        layout=layout,
    )


def _last_index(parts: list[str], marker: str) -> int | None:
    # The filename is never a marker component; the last match wins so a prefix that happens to
    # contain `date=` cannot shadow Braze's own component.
    for index in range(len(parts) - 2, -1, -1):
        if parts[index].startswith(marker):
            return index
    return None
