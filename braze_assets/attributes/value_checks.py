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

import duckdb
import polars as pl

from braze_assets.attributes import normalise
from braze_assets.warehouse import table_exists

CACHE_TABLE = "braze_attribute_value_checks"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """Changes whenever the normalisation rules or the libraries behind them change."""
    digest = hashlib.sha256(Path(normalise.__file__).read_bytes())
    for package in ("phonenumbers", "email-validator", "pycountry"):
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()[:16]


class ValueChecks:
    """Normalise text columns for one build, reusing earlier outcomes; `save` keeps this build's."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.used: list[pl.DataFrame] = []
        self.computed = 0

    def _cached(self, kind: str, distinct: pl.Series) -> pl.DataFrame:
        if distinct.is_empty() or not table_exists(self.con, CACHE_TABLE):
            return pl.DataFrame(schema=normalise.LOOKUP_SCHEMA)
        self.con.register("_bca_distinct", pl.DataFrame({"value": distinct}))
        try:
            return (
                self.con.execute(
                    f"SELECT c.value, c.normalised, c.reason FROM {CACHE_TABLE} c JOIN _bca_distinct d USING (value) "
                    "WHERE c.kind = ? AND c.fingerprint = ?",
                    [kind, fingerprint()],
                )
                .pl()
                .cast(normalise.LOOKUP_SCHEMA)
            )
        finally:
            self.con.unregister("_bca_distinct")

    def normalise(
        self, check: str, values: pl.Series, *, phone_region: str
    ) -> tuple[pl.Series, pl.Series]:
        kind = f"{check}:{phone_region}" if check == "phone" else check
        distinct = values.drop_nulls().unique()
        known = self._cached(kind, distinct)
        missing = distinct.filter(~distinct.is_in(known["value"].implode()))
        fresh = normalise.outcomes(check, missing.to_list(), phone_region=phone_region)
        self.computed += fresh.height
        lookup = pl.concat([known, fresh])
        self.used.append(lookup.with_columns(pl.lit(kind).alias("kind")))
        return normalise.apply_lookup(values, lookup)

    def save(self) -> None:
        """Replace the cache with this build's outcomes, so it holds only values still in use."""
        frame = (
            pl.concat(
                [pl.DataFrame(schema={**normalise.LOOKUP_SCHEMA, "kind": pl.String}), *self.used]
            )
            .unique(["kind", "value"])
            .with_columns(pl.lit(fingerprint()).alias("fingerprint"))
        )
        self.con.register("_bca_checks", frame)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TABLE {CACHE_TABLE} AS "
                "SELECT kind, value, normalised, reason, fingerprint FROM _bca_checks"
            )
        finally:
            self.con.unregister("_bca_checks")
