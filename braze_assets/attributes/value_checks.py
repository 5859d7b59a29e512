"""Per-row checks of standard fields, remembered between builds.

Parsing a phone number or an email address costs tens of microseconds; a million profiles a day would
re-parse the same values every run. The outcomes are kept in a warehouse table keyed by check and
value, and trusted only while the rules and the libraries that produced them are unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import polars as pl
import pyarrow as pa

from braze_assets.attributes import normalise
from braze_assets.engine.base import Engine
from braze_assets.warehouse import quote_literal

CACHE_TABLE = "braze_attribute_value_checks"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """Changes whenever the normalisation rules or the libraries behind them change."""
    digest = hashlib.sha256(Path(normalise.__file__).read_bytes())
    for package in ("phonenumbers", "email-validator", "pycountry"):
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()[:16]


OUTCOMES_ARROW = pa.schema(
    [
        ("kind", pa.string()),
        ("value", pa.string()),
        ("normalised", pa.string()),
        ("reason", pa.string()),
    ]
)


def check_kind(check: str, phone_region: str) -> str:
    """A check's outcomes depend on the region only for phones."""
    return f"{check}:{phone_region}" if check == "phone" else check


def outcome_batches(checks: dict[str, tuple[str, str]]) -> Callable[[pa.Table], pa.Table]:
    """Batch function over (kind, value) rows: each value's outcome of its kind's check
    (kind -> (check, phone_region)), as (kind, value, normalised, reason)."""

    def run(table: pa.Table) -> pa.Table:
        by_kind: dict[str, list[str]] = {}
        for kind, value in zip(table.column("kind").to_pylist(), table.column("value").to_pylist()):
            by_kind.setdefault(kind, []).append(value)
        frames = [
            normalise.outcomes(checks[kind][0], values, phone_region=checks[kind][1]).select(
                pl.lit(kind).alias("kind"), pl.all()
            )
            for kind, values in by_kind.items()
        ]
        if not frames:
            return OUTCOMES_ARROW.empty_table()
        return pl.concat(frames).to_arrow()

    return run


class ValueChecks:
    """Per-value checks for one build on an Engine, reusing earlier outcomes; `save` keeps this
    build's. The outcomes stay in the engine (one lookup table per destination): on Spark they are
    computed on the executors and never pass through the driver."""

    def __init__(self, con: Engine):
        self.con = con
        self.used: list[str] = []  # lookup tables (kind, value, normalised, reason)
        self.temps: list[str] = []
        self.mapped: list[str] = []

    def lookup(self, wanted: dict[str, tuple[str, str, list[str]]], *, name: str) -> str:
        """A table `name`(kind, value, normalised, reason): for each kind -> (check, phone_region,
        queries), the distinct values the queries return (one column, `value`)."""
        con = self.con
        distinct = self._temp(
            f"{name}_distinct",
            "SELECT DISTINCT kind, value FROM ("
            + " UNION ALL ".join(
                f"SELECT {quote_literal(kind)} AS kind, value FROM ({query}) WHERE value IS NOT NULL"
                for kind, (_, _, queries) in wanted.items()
                for query in queries
            )
            + ")",
        )
        known = self._temp(
            f"{name}_known",
            f"SELECT c.kind, c.value, c.normalised, c.reason FROM {CACHE_TABLE} c JOIN {distinct} d "
            f"ON c.kind = d.kind AND c.value = d.value "
            f"WHERE c.fingerprint = {quote_literal(fingerprint())}"
            if con.table_exists(CACHE_TABLE)
            else f"SELECT kind, value, CAST(NULL AS VARCHAR) AS normalised, "
            f"CAST(NULL AS VARCHAR) AS reason FROM {distinct} WHERE false",
        )
        fresh = f"{name}_fresh"
        con.map_batches(
            fresh,
            f"SELECT d.kind, d.value FROM {distinct} d LEFT JOIN {known} k "
            "ON k.kind = d.kind AND k.value = d.value WHERE k.value IS NULL",
            outcome_batches({kind: (check, region) for kind, (check, region, _) in wanted.items()}),
            OUTCOMES_ARROW,
        )
        self.mapped.append(fresh)
        self._temp(name, f"SELECT * FROM {known} UNION ALL SELECT * FROM {fresh}")
        self.used.append(name)
        return name

    @property
    def computed(self) -> int:
        """Values checked this build (the rest came from the cache)."""
        if not self.mapped:
            return 0
        counts = " + ".join(f"(SELECT count(*) FROM {fresh})" for fresh in self.mapped)
        return self.con.fetch(f"SELECT {counts}")[0][0]

    def _temp(self, name: str, query: str) -> str:
        self.con.create_temp(name, query)
        self.temps.append(name)
        return name

    def save(self) -> None:
        """Replace the cache with this build's outcomes, so it holds only values still in use."""
        stamp = quote_literal(fingerprint())
        parts = [
            f"SELECT kind, value, normalised, reason, {stamp} AS fingerprint FROM {table}"
            for table in self.used
        ] or [
            "SELECT "
            + ", ".join(
                f"CAST(NULL AS VARCHAR) AS {c}"
                for c in ("kind", "value", "normalised", "reason", "fingerprint")
            )
            + " WHERE false"
        ]
        self.con.write_table(
            CACHE_TABLE, "SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ")"
        )

    def close(self) -> None:
        for name in reversed(self.temps):
            self.con.drop_temp(name)
        for name in self.mapped:
            self.con.unregister(name)
