"""Postgres sources: a table or a query, streamed with COPY into a local CSV for DuckDB to read.

psycopg rather than DuckDB's postgres extension: the `duckdb-extension-postgres-scanner` packages
stop at DuckDB 1.5.5 and the pinned DuckDB 1.5.6 refuses an extension built for another version.
COPY ... TO STDOUT (FORMAT csv) is Postgres's fastest way out and gives every value as text, which
is what the raw tables hold anyway.

The connection string is read from the environment variable the config names and never leaves
this module: every error is rewritten with the string, its password and its user-info removed,
and names the variable instead.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from braze_assets.config.sources import PostgresLocation
from braze_assets.sources.load import SourceError

CONNECT_TIMEOUT_S = 10
# Postgres types whose values can take `- interval` for the late-arriving tolerance.
TIME_TYPES = {"timestamp", "timestamptz", "date"}


class PostgresSource:
    def __init__(self, source: str, location: PostgresLocation):
        self.source = source
        self.location = location

    # -- errors ------------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        raw = os.environ.get(self.location.connection_env, "")
        secrets = [raw] if raw else []
        try:
            params = conninfo_to_dict(raw) if raw else {}
        except psycopg.Error:
            params = {}
        if params.get("password"):
            secrets.append(str(params["password"]))
        return secrets

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        # A URL's user-info (user:password@) in any other spelling of it.
        return re.sub(r"(postgres(?:ql)?://)[^@/\s]*@", r"\1***@", text)

    def error(self, problem: str) -> SourceError:
        return SourceError(
            f"source {self.source!r} ({self.location.describe()}): {self.redact(problem)}"
        )

    def _problem(self, exc: Exception) -> str:
        text = str(exc).strip()
        # libpq prefixes every attempt with the address it tried; the last line says why.
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return "; ".join(lines) or type(exc).__name__

    # -- connection --------------------------------------------------------------------------

    @contextmanager
    def connect(self):
        env = self.location.connection_env
        conninfo = os.environ.get(env)
        if not conninfo:
            raise self.error(f"environment variable {env} is not set (it holds the connection)")
        try:
            conn = psycopg.connect(
                conninfo, connect_timeout=CONNECT_TIMEOUT_S, application_name="braze_assets"
            )
        except psycopg.OperationalError as exc:
            raise self.error(f"cannot connect: {self._problem(exc)}") from None
        except psycopg.Error as exc:
            raise self.error(f"invalid connection in ${env}: {self._problem(exc)}") from None
        try:
            # One snapshot for the rows, the watermark and the key scan of a load.
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn
        except psycopg.Error as exc:
            raise self.error(self._problem(exc)) from None
        finally:
            conn.close()

    # -- statements ----------------------------------------------------------------------------

    def relation(self) -> sql.Composable:
        if self.location.table:
            return sql.Identifier(*self.location.table.split("."))
        return sql.SQL("({}) AS src").format(sql.SQL(self.location.query.strip().rstrip(";")))

    def column_types(self, conn) -> dict[str, str]:
        cur = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(self.relation()))
        types = {}
        for column in cur.description:
            info = conn.adapters.types.get(column.type_code)
            types[column.name] = info.name if info else str(column.type_code)
        return types

    def copy_csv(self, conn, select: sql.Composable, dest: Path) -> None:
        """Write the rows of `select` to `dest` as CSV with a header (DuckDB counts them)."""
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER true)").format(select)
        with dest.open("wb") as fh, conn.cursor().copy(statement) as copy:
            for block in copy:
                fh.write(block)

    def select(
        self,
        columns: sql.Composable | None = None,
        where: sql.Composable | None = None,
        order_by: str | None = None,
    ) -> sql.Composable:
        parts = [
            sql.SQL("SELECT {} FROM {}").format(columns or sql.SQL("*"), self.relation()),
        ]
        if where is not None:
            parts.append(sql.SQL("WHERE {}").format(where))
        if order_by is not None:
            parts.append(sql.SQL("ORDER BY {}").format(sql.Identifier(order_by)))
        return sql.SQL(" ").join(parts)


@dataclass(frozen=True)
class Window:
    """Rows with `column > lower` (lower = watermark - tolerance, in the column's own type)."""

    column: str
    column_type: str
    watermark: str
    tolerance_minutes: float

    def condition(self) -> sql.Composable:
        return sql.SQL("{} > CAST({} AS {}) - CAST({} AS interval)").format(
            sql.Identifier(self.column),
            sql.Literal(self.watermark),
            sql.SQL(self.column_type),
            sql.Literal(f"{float(self.tolerance_minutes)} minutes"),
        )
