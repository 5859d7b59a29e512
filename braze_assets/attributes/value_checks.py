"""Per-row checks of standard fields, remembered between builds.

Parsing a phone number or an email address costs tens of microseconds; a million profiles a day would
re-parse the same values every run. The outcomes are kept in a warehouse table keyed by check and
value, and trusted only while the rules and the libraries that produced them are unchanged.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

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


LOOKUP_ARROW = pa.schema(
    [("value", pa.string()), ("normalised", pa.string()), ("reason", pa.string())]
)


class ValueChecks:
    """Per-value checks for one build on an Engine, reusing earlier outcomes; `save` keeps this
    build's. The outcomes stay in the engine (a lookup table per attribute): on Spark they are
    computed on the executors and never pass through the driver."""

    def __init__(self, con: Engine):
        self.con = con
        self.used: list[tuple[str, str]] = []  # (kind, lookup table)
        self.temps: list[str] = []
        self.mapped: list[str] = []
        self.computed = 0

    def lookup(self, check: str, values_query: str, *, name: str, phone_region: str) -> str:
        """A table `name`(value, normalised, reason) over the distinct values of `values_query`
        (one column, `value`)."""
        con = self.con
        kind = f"{check}:{phone_region}" if check == "phone" else check
        distinct = self._temp(
            f"{name}_distinct",
            f"SELECT DISTINCT value FROM ({values_query}) WHERE value IS NOT NULL",
        )
        known = (
            f"SELECT c.value, c.normalised, c.reason FROM {CACHE_TABLE} c JOIN {distinct} d "
            f"USING (value) WHERE c.kind = {quote_literal(kind)} "
            f"AND c.fingerprint = {quote_literal(fingerprint())}"
            if con.table_exists(CACHE_TABLE)
            else "SELECT value, CAST(NULL AS VARCHAR) AS normalised, "
            f"CAST(NULL AS VARCHAR) AS reason FROM {distinct} WHERE false"
        )
        known = self._temp(f"{name}_known", known)

        def fresh(table: pa.Table) -> pa.Table:
            values = table.column("value").to_pylist()
            return normalise.outcomes(check, values, phone_region=phone_region).to_arrow()

        con.map_batches(
            f"{name}_fresh",
            f"SELECT value FROM {distinct} WHERE value NOT IN (SELECT value FROM {known})",
            fresh,
            LOOKUP_ARROW,
        )
        self.mapped.append(f"{name}_fresh")
        self.computed += con.fetch(f"SELECT count(*) FROM {name}_fresh")[0][0]
        self._temp(name, f"SELECT * FROM {known} UNION ALL SELECT * FROM {name}_fresh")
        self.used.append((kind, name))
        return name

    def _temp(self, name: str, query: str) -> str:
        self.con.create_temp(name, query)
        self.temps.append(name)
        return name

    def save(self) -> None:
        """Replace the cache with this build's outcomes, so it holds only values still in use."""
        stamp = quote_literal(fingerprint())
        parts = [
            f"SELECT {quote_literal(kind)} AS kind, value, normalised, reason, {stamp} AS fingerprint "
            f"FROM {table}"
            for kind, table in self.used
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
