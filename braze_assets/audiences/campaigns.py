"""Turn a campaign or orchestration into current members, history, and run counts.

Two phases, because DuckDB will not hold a read-only and a writable connection to one file in one
process: `plan_activation` evaluates every audience on a read-only connection into a frame, then
`build_campaign_members` writes it with a writable one, in one transaction.

Tables written (contract in docs/architecture.md):
- `audience_members`: current members of each campaign, replaced on every run. The sync turns
  treatment rows into intended Braze state, so a customer who disappears here is sent a leave.
- `campaign_recipients`: history, one row per member per run (rerunning a run id replaces it).
- `campaign_member_attributes`: the campaign's attributes for treatment members, long format
  (attribute name, canonical JSON value as braze_assets.attributes spells it), replaced every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from braze_assets import tables
from braze_assets.attributes.config import AttributeMapping
from braze_assets.attributes.serialise import canonical_json
from braze_assets.audiences.columns import ID_COLUMN, SOURCE_VIEW
from braze_assets.audiences.compiler import as_utc
from braze_assets.audiences.config import (
    AudiencesConfig,
    Campaign,
    Orchestration,
    custom_attribute_problem,
)
from braze_assets.audiences.errors import AudienceError
from braze_assets.audiences.evaluate import evaluate_audience, open_read_only, run_limited
from braze_assets.warehouse import create_tables, quote, transaction

TREATMENT, CONTROL = "treatment", "control"
_MEMBER_COLUMNS = [
    "audience",
    ID_COLUMN,
    "member_group",
    "membership_attribute",
    "membership_value",
]

# Columns are NOT NULL unless marked NULL (warehouse.create_tables).
_TABLES = {
    tables.AUDIENCE_MEMBERS: "campaign VARCHAR, audience VARCHAR, destination VARCHAR, "
    "customer_id VARCHAR, member_group VARCHAR, membership_mode VARCHAR, "
    "membership_attribute VARCHAR, membership_value VARCHAR NULL, run_id VARCHAR, "
    "computed_at TIMESTAMP",
    tables.CAMPAIGN_RECIPIENTS: "campaign VARCHAR, audience VARCHAR, customer_id VARCHAR, "
    "member_group VARCHAR, run_id VARCHAR, computed_at TIMESTAMP",
    tables.CAMPAIGN_MEMBER_ATTRIBUTES: "campaign VARCHAR, destination VARCHAR, customer_id VARCHAR, "
    "attribute VARCHAR, value JSON NULL, run_id VARCHAR, computed_at TIMESTAMP",
}


# The control group: the first 64 bits of md5(campaign, unit separator, customer id), scaled to
# [0, 100), below the campaign's percentage. It depends only on campaign and customer, so the same
# customers stay held out run after run however the audience grows, on any machine.
_CONTROL_SQL = "CAST(('0x' || left(md5(? || chr(31) || customer_id), 16)) AS UBIGINT) / 18446744073709551616.0 * 100 < ?"


@dataclass(frozen=True)
class Plan:
    """Who is in an activation this run, before anything is written."""

    activation: Campaign | Orchestration
    members: pl.DataFrame  # _MEMBER_COLUMNS
    attributes: pl.DataFrame  # customer_id + one column per Braze attribute (treatment members)
    targeted: int
    excluded: int
    unassigned: int


@dataclass(frozen=True)
class CampaignReport:
    campaign: str
    kind: str
    destination: str
    run_id: str
    computed_at: datetime
    targeted: int
    excluded: int
    unassigned: int
    size: int
    treatment: int
    control: int
    joins: int
    leaves: int
    stays: int
    audience_sizes: dict[str, int] = field(default_factory=dict)
    retired_campaigns: list[str] = field(
        default_factory=list
    )  # no longer configured; their members were removed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ids(
    con: duckdb.DuckDBPyConnection,
    names: list[str],
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None,
) -> pl.DataFrame:
    frames = [
        evaluate_audience(con, n, audiences, as_of, columns).select(pl.col(ID_COLUMN).cast(pl.Utf8))
        for n in names
    ]
    return (
        pl.concat(frames).unique()
        if frames
        else pl.DataFrame({ID_COLUMN: []}, schema={ID_COLUMN: pl.Utf8})
    )


def _assign_sub_audiences(
    con, campaign: Campaign, members: pl.DataFrame, audiences, as_of, columns
) -> pl.DataFrame:
    if not campaign.sub_audiences:
        return members.with_columns(audience=pl.lit(campaign.name))
    remaining, parts = members, []
    for sub in campaign.sub_audiences:
        matched = (
            remaining
            if sub.segment is None
            else remaining.join(
                _ids(con, [sub.segment], audiences, as_of, columns), on=ID_COLUMN, how="semi"
            )
        )
        parts.append(matched.with_columns(audience=pl.lit(sub.name)))
        remaining = remaining.join(matched, on=ID_COLUMN, how="anti")
    return pl.concat(parts)


def _membership(activation: Campaign | Orchestration, frame: pl.DataFrame) -> pl.DataFrame:
    subs = (
        [s.name for s in activation.sub_audiences]
        if isinstance(activation, Campaign) and activation.sub_audiences
        else []
    )
    resolved = {
        a: activation.membership.resolve(activation.name, a if subs else None)
        for a in frame["audience"].unique()
    }
    return frame.with_columns(
        membership_attribute=pl.col("audience").replace_strict(
            {a: r[0] for a, r in resolved.items()}, return_dtype=pl.Utf8
        ),
        membership_value=pl.col("audience").replace_strict(
            {a: r[1] for a, r in resolved.items()}, return_dtype=pl.Utf8
        ),
    )


def _with_groups(
    con: duckdb.DuckDBPyConnection, activation: Campaign | Orchestration, frame: pl.DataFrame
) -> pl.DataFrame:
    percent = activation.control_group_percent if isinstance(activation, Campaign) else 0
    if not percent:
        return frame.with_columns(member_group=pl.lit(TREATMENT))
    con.register("_grouped_members", frame)
    try:
        return run_limited(
            con,
            activation.name,
            f"SELECT *, CASE WHEN {_CONTROL_SQL} THEN '{CONTROL}' ELSE '{TREATMENT}' END AS member_group FROM _grouped_members",
            [activation.name, percent],
            kind="campaign",
            what="assigning its control group",
        )
    finally:
        con.unregister("_grouped_members")


def plan_activation(
    con: duckdb.DuckDBPyConnection,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None = None,
) -> Plan:
    """Evaluate a campaign or orchestration on a read-only connection; nothing is written."""
    activation = audiences.activation(name)
    if isinstance(activation, Orchestration):
        frame = evaluate_audience(con, activation.sql_audience, audiences, as_of, columns)
        for column in frame.columns:
            problem = None if column == ID_COLUMN else custom_attribute_problem(column)
            if problem:
                raise AudienceError(
                    activation.sql_audience, f"column {column!r} cannot be sent: {problem}"
                )
        members = frame.select(
            pl.col(ID_COLUMN).cast(pl.Utf8), audience=pl.lit(activation.sql_audience)
        )
        attributes, targeted, excluded, unassigned = (
            frame.with_columns(pl.col(ID_COLUMN).cast(pl.Utf8)),
            frame.height,
            0,
            0,
        )
    else:
        targeted_ids = _ids(con, activation.segments, audiences, as_of, columns)
        kept = targeted_ids.join(
            _ids(con, activation.exclude, audiences, as_of, columns), on=ID_COLUMN, how="anti"
        )
        members = _assign_sub_audiences(con, activation, kept, audiences, as_of, columns)
        targeted, excluded, unassigned = (
            targeted_ids.height,
            targeted_ids.height - kept.height,
            kept.height - members.height,
        )
        attributes = _campaign_attributes(con, activation, members)
    members = (
        _membership(activation, _with_groups(con, activation, members))
        .select(_MEMBER_COLUMNS)
        .sort(ID_COLUMN)
    )
    treated = members.filter(pl.col("member_group") == TREATMENT).select(ID_COLUMN)
    attributes = attributes.join(treated, on=ID_COLUMN, how="semi").sort(ID_COLUMN)
    return Plan(activation, members, attributes, targeted, excluded, unassigned)


def _campaign_attributes(
    con: duckdb.DuckDBPyConnection, campaign: Campaign, members: pl.DataFrame
) -> pl.DataFrame:
    if not campaign.attributes:
        return members.select(ID_COLUMN)
    picks = ", ".join(
        f"s.{quote(column)} AS {quote(key)}" for key, column in campaign.attributes.items()
    )
    con.register("_campaign_members", members.select(ID_COLUMN))
    try:
        return run_limited(
            con,
            campaign.name,
            f"SELECT CAST(s.{quote(ID_COLUMN)} AS VARCHAR) AS {quote(ID_COLUMN)}, {picks} FROM {quote(SOURCE_VIEW)} s "
            f"SEMI JOIN _campaign_members m ON s.{quote(ID_COLUMN)} = m.{quote(ID_COLUMN)}",
            kind="campaign",
            what="reading its attributes",
        )
    finally:
        con.unregister("_campaign_members")


def build_campaign_members(
    warehouse: Path | str,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    run_id: str,
    columns: Mapping[str, str] | None = None,
) -> CampaignReport:
    """Evaluate campaign / orchestration `name` and make it the current membership; return the counts."""
    con = open_read_only(warehouse)
    try:
        plan = plan_activation(con, name, audiences, as_of, columns)
    finally:
        con.close()
    with duckdb.connect(str(warehouse)) as con:
        return write_activation(con, plan, audiences, run_id)


def write_activation(
    con: duckdb.DuckDBPyConnection, plan: Plan, audiences: AudiencesConfig, run_id: str
) -> CampaignReport:
    """Make `plan` (from `plan_activation`) the current membership on writable `con`; return the counts."""
    configured = [a.name for a in audiences.activations()]
    return _write(con, plan, run_id, as_utc(datetime.now(UTC)), configured)


def _write(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    run_id: str,
    computed_at: datetime,
    configured: list[str],
) -> CampaignReport:
    act = plan.activation
    create_tables(con, _TABLES)
    con.register("_new_members", plan.members)
    con.register("_new_attributes", attribute_texts(plan.attributes))
    try:
        with transaction(con):
            joins, leaves, stays = con.execute(
                """WITH prev AS (SELECT audience, customer_id FROM audience_members WHERE campaign = ? AND member_group = 'treatment'),
                        cur AS (SELECT audience, customer_id FROM _new_members WHERE member_group = 'treatment')
                   SELECT count(*) FILTER (WHERE prev.customer_id IS NULL),
                          count(*) FILTER (WHERE cur.customer_id IS NULL),
                          count(*) FILTER (WHERE prev.customer_id IS NOT NULL AND cur.customer_id IS NOT NULL)
                   FROM prev FULL OUTER JOIN cur ON prev.audience = cur.audience AND prev.customer_id = cur.customer_id""",
                [act.name],
            ).fetchone()
            # A campaign removed from config must not stay a member forever: dropping its rows makes the sync send leaves.
            retired = con.execute(
                "DELETE FROM audience_members WHERE campaign NOT IN (SELECT unnest(?::VARCHAR[])) RETURNING campaign",
                [configured],
            ).fetchall()
            con.execute(
                "DELETE FROM campaign_member_attributes WHERE campaign NOT IN (SELECT unnest(?::VARCHAR[]))",
                [configured],
            )
            con.execute("DELETE FROM audience_members WHERE campaign = ?", [act.name])
            con.execute(
                """INSERT INTO audience_members SELECT ?, audience, ?, customer_id, member_group, ?, membership_attribute,
                   membership_value, ?, ? FROM _new_members""",
                [act.name, act.destination, act.membership.mode, run_id, computed_at],
            )
            con.execute(
                "DELETE FROM campaign_recipients WHERE campaign = ? AND run_id = ?",
                [act.name, run_id],
            )
            con.execute(
                "INSERT INTO campaign_recipients SELECT ?, audience, customer_id, member_group, ?, ? FROM _new_members",
                [act.name, run_id, computed_at],
            )
            con.execute("DELETE FROM campaign_member_attributes WHERE campaign = ?", [act.name])
            con.execute(
                "INSERT INTO campaign_member_attributes SELECT ?, ?, customer_id, attribute, value, ?, ? FROM _new_attributes",
                [act.name, act.destination, run_id, computed_at],
            )
    finally:
        con.unregister("_new_members")
        con.unregister("_new_attributes")
    members = plan.members
    treatment = members.filter(pl.col("member_group") == TREATMENT)
    return CampaignReport(
        campaign=act.name,
        kind="orchestration" if isinstance(act, Orchestration) else "campaign",
        destination=act.destination,
        run_id=run_id,
        computed_at=computed_at,
        targeted=plan.targeted,
        excluded=plan.excluded,
        unassigned=plan.unassigned,
        size=members.height,
        treatment=treatment.height,
        control=members.height - treatment.height,
        joins=joins,
        leaves=leaves,
        stays=stays,
        audience_sizes=dict(sorted(treatment.group_by("audience").len().iter_rows())),
        retired_campaigns=sorted({r[0] for r in retired}),
    )


def _declared_type(name: str, dtype: pl.DataType) -> str:
    """The attribute type that serialises a column of `dtype` (see braze_assets.attributes.serialise)."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision or 38},{dtype.scale})"
    if dtype.is_float():
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype in (pl.String, pl.Null):
        return "string"
    raise AudienceError(
        name, f"values of type {dtype} cannot be sent to Braze; select a scalar", kind="attribute"
    )


def attribute_texts(attributes: pl.DataFrame) -> pl.DataFrame:
    """customer_id, attribute, value (canonical JSON text, as the sync compares it); NULLs are left out."""
    parts = [pl.DataFrame(schema={ID_COLUMN: pl.Utf8, "attribute": pl.Utf8, "value": pl.Utf8})]
    for key in attributes.columns:
        if key == ID_COLUMN:
            continue
        mapping = AttributeMapping(
            name=key, column=key, type=_declared_type(key, attributes[key].dtype)
        )
        parts.append(
            pl.DataFrame(
                {
                    ID_COLUMN: attributes[ID_COLUMN],
                    "value": canonical_json(mapping, attributes[key]),
                }
            )
            .drop_nulls("value")
            .select(ID_COLUMN, attribute=pl.lit(key), value="value")
        )
    return pl.concat(parts)
