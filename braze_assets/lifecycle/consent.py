"""The consent guard: subscription states reach Braze only from the declared consent authority.

Braze is the source of truth for email / push subscription states and subscription groups
(people unsubscribe in Braze's own messages), so the project sends none unless the config
declares one customer source as the consent authority (`sync.lifecycle.consent.authority`).
Then a consent attribute (email_subscribe, push_subscribe) may read only columns that the
authority source, and no other source, provides. Everything else is refused at config load with
a message naming the destination, the attribute, the column and its source.
"""

from __future__ import annotations

from collections.abc import Sequence

from braze_assets import tables
from braze_assets.attributes.expressions import parse_expression, referenced_columns
from braze_assets.warehouse import quote, quote_literal, table_exists, transaction

CONSENT_FIELDS = ("email_subscribe", "push_subscribe", "subscription_groups")
_SETTING = "sync.lifecycle.consent.authority"


def _columns(mapping) -> list[str]:
    if mapping.column is not None:
        return [mapping.column]
    return referenced_columns(parse_expression(mapping.sql))


def consent_problem(
    sources: Sequence, destinations: Sequence, authority: str | None
) -> tuple[str, str] | None:
    """(config entry, why) the config's consent attributes may not be sent; None when they may."""
    names = [s.name for s in sources]
    if authority is not None and authority not in names:
        return _SETTING, (
            f"{_SETTING} {authority!r} is not a configured source; known: {', '.join(names)}"
        )
    providers: dict[str, list[str]] = {}
    for source in sources:
        for column in source.columns:
            providers.setdefault(column, []).append(source.name)
    for d, destination in enumerate(destinations):
        for a, mapping in enumerate(destination.attributes):
            if mapping.name not in CONSENT_FIELDS:
                continue
            entry = f"destinations[{d}].attributes[{a}]"
            where = f"destination {destination.name!r}, attribute {mapping.name!r}"
            if authority is None:
                return entry, (
                    f"{where}: subscription states are off by default (Braze is their source of "
                    f"truth); declare the customer source that is the consent authority in {_SETTING} "
                    "to send them, or remove the attribute"
                )
            for column in _columns(mapping):
                found = providers.get(column, [])
                others = [s for s in found if s != authority]
                if others or not found:
                    origin = (
                        f"source {', '.join(repr(s) for s in others)}"
                        if others
                        else "no customer source (a derived column)"
                    )
                    return entry, (
                        f"{where} reads column {column!r} from {origin}, which is not the consent "
                        f"authority {authority!r} ({_SETTING}); a consent change from a source "
                        "not declared as consent authority is refused"
                    )
    return None


def subscription_group_problem(
    sources: Sequence, authority: str | None, groups: Sequence
) -> tuple[str, str] | None:
    """(config entry, why) the configured subscription groups may not be sent; None when they may."""
    if not groups:
        return None
    entry = "sync.lifecycle.consent.subscription_groups"
    if authority is None:
        return entry, (
            f"subscription groups are sent only from the consent authority: declare it in {_SETTING} "
            "or remove the subscription groups"
        )
    source = next((s for s in sources if s.name == authority), None)
    if source is None:
        return None  # consent_problem names the unknown authority
    seen: set[str] = set()
    for g, group in enumerate(groups):
        if group.group_id in seen:
            return f"{entry}[{g}]", f"subscription group {group.group_id!r} is listed twice"
        seen.add(group.group_id)
        if group.column not in source.columns:
            return f"{entry}[{g}].column", (
                f"column {group.column!r} of subscription group {group.group_id!r} is not a column "
                f"of the consent authority {authority!r}; it has {', '.join(source.columns)}"
            )
    return None


def updated_at_sql(authority, alias: str = "r") -> str:
    """The authority's updated_at as a UTC TIMESTAMP (zone-less text is taken as UTC)."""
    column = f"NULLIF(trim(CAST({alias}.{quote(authority.updated_at)} AS VARCHAR)), '')"
    return (
        f"CASE WHEN regexp_matches({column}, '(Z|z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
        f"THEN TRY_CAST({column} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST({column} AS TIMESTAMP) END"
    )


def refresh_consent_times(con, destination: str, authority) -> int:
    """Write consent_authority_times for `destination`: per Braze identifier, the latest update
    time of the customer's records in the consent authority source (its `updated_at` column).
    The diff uses it so that an unsubscribe Braze confirmed is overwritten only by a newer
    subscribe. Returns the rows written."""
    from braze_assets.sync.diff import CONSENT_TIMES

    raw = f"raw_{authority.name}"
    needed = (raw, tables.UNIFIED_COALESCED, tables.BRAZE_CUSTOMER_ATTRIBUTES)
    if not all(table_exists(con, t) for t in needed):
        return 0
    updated = updated_at_sql(authority)
    with transaction(con):
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {CONSENT_TIMES} "
            "(destination VARCHAR, identifier VARCHAR, updated_at TIMESTAMP)"
        )
        con.execute(f"DELETE FROM {CONSENT_TIMES} WHERE destination = ?", [destination])
        written = con.execute(
            f"""INSERT INTO {CONSENT_TIMES}
                SELECT a.destination, a.identifier, max({updated})
                FROM {quote(raw)} r
                JOIN unified_coalesced u ON u.source = {quote_literal(authority.name)}
                     AND u.source_pk = CAST(r.{quote(authority.primary_key)} AS VARCHAR)
                JOIN braze_customer_attributes a ON a.destination = ? AND a.customer_id = u.customer_id
                WHERE a.identifier IS NOT NULL
                GROUP BY ALL HAVING max({updated}) IS NOT NULL""",
            [destination],
        ).fetchone()
    return int(written[0]) if written else 0
