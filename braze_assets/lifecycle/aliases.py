"""Alias profiles for customers without an external id, identified once they get one.

For an external_id destination, a customer of customer_360 without an external id has no Braze
profile the sync can address. With `sync.lifecycle.aliases.enabled`, each such customer gets a
user_alias profile (`alias_name` = customer id, `alias_label` = the configured label) through
/users/alias/new, so data other integrations record under that alias lands on one profile.
When the customer later has an external id, /users/identify gives the alias profile that id
(Braze merges it into an existing profile of that id). Both are recorded in
braze_profile_aliases.

Until then the customer's attributes, orders and subscription states are sent to the alias
profile (`user_alias` in /users/track): braze_customer_attributes keys it
"user_alias:<label>:<customer id>" (attributes.fields.alias_key) when the aliases are on. On
identify, the values Braze confirmed for the alias move to the external id in confirmed state
the way Braze's merge moves them (the alias's values where the external id has none), so the
next sync resends none of them; order events keep their stable keys and are not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.attributes.fields import ALIAS_KEY_PREFIX, alias_key
from braze_assets.lifecycle.config import AliasConfig
from braze_assets.lifecycle.profiles import move_confirmed
from braze_assets.lifecycle.tables import ALIASES, ensure_lifecycle_tables, now_utc
from braze_assets.warehouse import table_exists, transaction

ATTRIBUTES_TABLE = tables.BRAZE_CUSTOMER_ATTRIBUTES
CUSTOMERS = tables.CUSTOMER_360


@dataclass
class AliasReport:
    planned_new: int = 0
    planned_identify: int = 0
    created: int = 0
    identified: int = 0
    deferred: int = 0


def manage_aliases(
    con: duckdb.DuckDBPyConnection,
    client,
    *,
    destination: str,
    identifier_type: str,
    config: AliasConfig,
    dry_run: bool = False,
    run_id: str = "aliases",
) -> AliasReport:
    report = AliasReport()
    if not config.enabled or identifier_type != "external_id":
        return report
    ensure_lifecycle_tables(con)
    if not (table_exists(con, CUSTOMERS) and table_exists(con, ATTRIBUTES_TABLE)):
        return report
    identify = con.execute(
        f"""SELECT a.customer_id, a.alias_name, a.alias_label, b.identifier FROM {ALIASES} a
            JOIN {ATTRIBUTES_TABLE} b ON b.destination = a.destination AND b.customer_id = a.customer_id
            WHERE a.destination = ? AND a.status = 'created' AND b.identifier IS NOT NULL
              AND NOT starts_with(b.identifier, ?)
            ORDER BY a.customer_id""",
        [destination, ALIAS_KEY_PREFIX],
    ).fetchall()
    new = con.execute(
        f"""SELECT c.customer_id FROM {CUSTOMERS} c
            WHERE c.customer_id NOT IN (SELECT customer_id FROM {ATTRIBUTES_TABLE}
                                        WHERE destination = ? AND identifier IS NOT NULL
                                          AND NOT starts_with(identifier, ?))
              AND c.customer_id NOT IN (SELECT customer_id FROM {ALIASES} WHERE destination = ?)
            ORDER BY c.customer_id""",
        [destination, ALIAS_KEY_PREFIX, destination],
    ).fetchall()
    report.deferred = max(0, len(new) - config.max_per_run)
    new = new[: config.max_per_run]
    report.planned_new, report.planned_identify = len(new), len(identify)
    if dry_run:
        return report
    for start in range(0, len(new), 50):
        chunk = [row[0] for row in new[start : start + 50]]
        client.new_aliases([{"alias_name": c, "alias_label": config.label} for c in chunk])
        with transaction(con):
            con.executemany(
                f"INSERT INTO {ALIASES} VALUES (?, ?, ?, ?, 'created', NULL, ?, NULL)",
                [[destination, c, c, config.label, now_utc()] for c in chunk],
            )
        report.created += len(chunk)
    for start in range(0, len(identify), 50):
        chunk = identify[start : start + 50]
        client.identify_users([(ext, name, label) for _, name, label, ext in chunk])
        moves = pl.DataFrame(
            {
                "merge_identifier": [alias_key(label, name) for _, name, label, _ in chunk],
                "keep_identifier": [ext for *_, ext in chunk],
            },
            schema={"merge_identifier": pl.String, "keep_identifier": pl.String},
        )
        with transaction(con):
            move_confirmed(con, destination, moves, run_id)
            con.executemany(
                f"""UPDATE {ALIASES} SET status = 'identified', external_id = ?, identified_at = ?
                    WHERE destination = ? AND customer_id = ?""",
                [[ext, now_utc(), destination, cid] for cid, _, _, ext in chunk],
            )
        report.identified += len(chunk)
    return report
