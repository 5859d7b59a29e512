"""The demo's second act: a day later, a duplicate account is consolidated and a customer asks to
be forgotten, so the Braze profile lifecycle (merge, deletion) shows on the sandbox.

Once per data dir (a marker file records it, so a rerun of the demo changes nothing):
- the web shop consolidates a guest account into a customer's main account: the guest account's
  record (a customer of its own, with its own Braze profile) takes the main account's person
  details and gives up its external id, so identity merges the two customers and the next sync
  merges the guest's Braze profile into the main one with /users/merge;
- a third customer with a Braze profile files a privacy request (table privacy_requests, the
  demo's deletion source), so the next sync deletes that profile with /users/delete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl

from braze_assets.warehouse import connect

ACT_MARKER = Path("demo_data/lifecycle_act.json")
PRIVACY_TABLE = "privacy_requests"
SHOP_SOURCE = "ecommerce"


def ensure_privacy_table(warehouse: Path) -> None:
    """The demo's deletion source exists from the first run on (empty until the second act)."""
    with connect(warehouse) as con:
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {PRIVACY_TABLE} (customer_id VARCHAR, requested_at TIMESTAMP)"
        )


def _candidates(con, destination: str) -> list[tuple[str, str, str]]:
    """(customer_id, shop account id, external id) of customers made of one shop account only,
    whose Braze profile exists (confirmed state), by account id: the same picks whatever customer
    ids identity assigned (a killed and rerun demo ends where a clean one does)."""
    return con.execute(
        f"""WITH single AS (
                SELECT customer_id, any_value(source_pk) AS pk FROM unified_coalesced
                GROUP BY customer_id HAVING count(*) = 1 AND bool_and(source = '{SHOP_SOURCE}'))
            SELECT s.customer_id, s.pk, a.identifier FROM single s
            JOIN braze_customer_attributes a ON a.customer_id = s.customer_id AND a.destination = ?
            WHERE a.identifier IN (SELECT DISTINCT identifier FROM braze_confirmed_state WHERE destination = ?)
            ORDER BY s.pk LIMIT 3""",
        [destination, destination],
    ).fetchall()


def stage_lifecycle_changes(data_dir: Path, warehouse: Path, config) -> dict | None:
    """Make the second act's changes once; return what was staged (None when already done or
    when the data has too few candidates)."""
    marker = data_dir / ACT_MARKER
    if marker.exists() or not config.destinations:
        return None
    destination = config.destinations[0].name
    with connect(warehouse) as con:
        picks = _candidates(con, destination)
    if len(picks) < 3:
        return None
    (guest_cid, guest_pk, guest_ext), (main_cid, main_pk, main_ext), (gone_cid, _, gone_ext) = picks
    source = config.source(SHOP_SOURCE)
    external_column = next(c for c, tag in source.columns.items() if tag == "external_id")
    path = Path(source.path) if Path(source.path).is_absolute() else data_dir / source.path
    frame = pl.read_csv(path, infer_schema=False)
    key = source.primary_key
    main = frame.filter(pl.col(key) == main_pk).row(0, named=True)
    keep = {key, source.updated_at}
    is_guest = pl.col(key) == guest_pk
    frame = frame.with_columns(
        [
            pl.when(is_guest).then(pl.lit(main[c], pl.String)).otherwise(pl.col(c)).alias(c)
            for c in frame.columns
            if c not in keep and c != external_column
        ]
        + [
            pl.when(is_guest)
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col(external_column))
            .alias(external_column)
        ]
    )
    tmp = path.with_suffix(".csv.tmp")
    frame.write_csv(tmp)
    os.replace(tmp, path)
    with connect(warehouse) as con:
        con.execute(
            f"INSERT INTO {PRIVACY_TABLE} VALUES (?, ?)",
            [gone_cid, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        )
    staged = {
        "merge": {"guest_external_id": guest_ext, "main_external_id": main_ext},
        "privacy_request": {"customer_id": gone_cid, "external_id": gone_ext},
    }
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(staged, indent=2), encoding="utf-8")
    return staged
