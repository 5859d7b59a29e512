"""Turn a campaign or orchestration into current members, history, and run counts.

Written once against the Engine: every audience is evaluated into temp tables on the engine, the
campaign's set algebra (exclusions, sub-audiences, membership) is SQL, and the control group and
the attribute texts are Python per value (map_distinct / map_batches, on the executors on Spark),
so on Spark no member list passes through the driver. Two phases, because DuckDB will not hold a
read-only and a writable connection to one file in one process: `plan_activation` evaluates on the
read-only connection, the plan is `carried()` over as Arrow, and `write_activation` writes it with
a writable one, in one transaction. On Spark one session does both.

Tables written (contract in docs/architecture.md):
- `audience_members`: current members of each campaign, replaced on every run. The sync turns
  treatment rows into intended Braze state, so a customer who disappears here is sent a leave.
- `campaign_recipients`: history, one row per member per run (rerunning a run id replaces it).
- `campaign_member_attributes`: the campaign's attributes for treatment members, long format
  (attribute name, canonical JSON value as braze_assets.attributes spells it), replaced every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

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
from braze_assets.audiences.evaluate import (
    audience_sql,
    materialise_audience,
    open_read_only,
    run_limited,
)
from braze_assets.engine.base import Engine
from braze_assets.engine.duckdb_engine import as_engine
from braze_assets.warehouse import quote

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

RECIPIENT_COLUMNS = _TABLES[tables.CAMPAIGN_RECIPIENTS]


def in_control_group(campaign: str, customer_id: str, percent: float) -> bool:
    """The control group: the first 64 bits of md5(campaign, unit separator, customer id), scaled
    to [0, 100), below the campaign's percentage. It depends only on campaign and customer, so the
    same customers stay held out run after run however the audience grows, on any machine and
    engine (a Python function over the distinct ids, on the executors on Spark)."""
    digest = hashlib.md5(f"{campaign}\x1f{customer_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 18446744073709551616.0 * 100 < percent


# Temp tables of a plan, on the engine that evaluated it.
MEMBERS, ATTRIBUTE_TEXTS = "_plan_members", "_plan_attribute_texts"
_TEXTS_SCHEMA = pa.schema(
    [(ID_COLUMN, pa.string()), ("attribute", pa.string()), ("value", pa.string())]
)


@dataclass
class Plan:
    """Who is in an activation this run, before anything is written: the temp tables MEMBERS
    (_MEMBER_COLUMNS) and ATTRIBUTE_TEXTS (customer_id, attribute, canonical JSON value of the
    treatment members) on `engine`, or, once `carried`, the same rows as Arrow tables."""

    activation: Campaign | Orchestration
    engine: Engine
    targeted: int
    excluded: int
    unassigned: int
    arrow: dict[str, pa.Table] | None = None

    def carried(self) -> Plan:
        """The plan's rows held on the driver: DuckDB writes them on another (writable)
        connection than the read-only one that evaluated them."""
        rows = {t: self.engine.read_arrow(f"SELECT * FROM {t}") for t in (MEMBERS, ATTRIBUTE_TEXTS)}
        return Plan(
            self.activation, self.engine, self.targeted, self.excluded, self.unassigned, rows
        )

    @property
    def members(self) -> pl.DataFrame:
        return self._read(MEMBERS, [ID_COLUMN]).select(_MEMBER_COLUMNS)

    @property
    def attribute_texts(self) -> pl.DataFrame:
        return self._read(ATTRIBUTE_TEXTS, [ID_COLUMN, "attribute"])

    def _read(self, table: str, order: list[str]) -> pl.DataFrame:
        if self.arrow is not None:
            return pl.from_arrow(self.arrow[table]).sort(order)
        return pl.from_arrow(
            self.engine.read_arrow(f"SELECT * FROM {table} ORDER BY {', '.join(order)}")
        )


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


_ID = quote(ID_COLUMN)


def _count(engine: Engine, table: str) -> int:
    return int(engine.fetch(f"SELECT count(*) FROM {table}")[0][0])


def _ids(
    engine: Engine,
    into: str,
    names: list[str],
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None,
) -> None:
    """The temp table `into` (customer_id as text) of everyone in any of the audiences `names`:
    one query (segments inline, with their parameters; SQL audiences checked first)."""
    parts, params, checked = [], [], []
    for i, name in enumerate(names):
        if audiences.segment(name) is not None:
            query = audience_sql(engine, name, audiences, columns)
            parts.append(f"SELECT CAST({_ID} AS VARCHAR) AS {_ID} FROM ({query.sql}) s{i}")
            params += query.bind(as_of)
        else:
            materialise_audience(engine, name, f"{into}_{i}", audiences, as_of, columns)
            parts.append(f"SELECT CAST({_ID} AS VARCHAR) AS {_ID} FROM {into}_{i}")
            checked.append(f"{into}_{i}")
    union = " UNION ALL ".join(parts) or f"SELECT CAST(NULL AS VARCHAR) AS {_ID} WHERE false"
    run_limited(
        engine,
        ", ".join(names),
        f"SELECT DISTINCT {_ID} FROM ({union}) u WHERE {_ID} IS NOT NULL",
        params,
        into=into,
    )
    for table in checked:
        engine.drop_temp(table)


def _with_audience(engine: Engine, into: str, source: str, audience: str) -> None:
    """`into` (customer_id, audience): every id of `source` in the one audience."""
    engine.register("_plan_names", pa.table({"audience": pa.array([audience], pa.string())}))
    engine.create_temp(into, f"SELECT s.{_ID}, n.audience FROM {source} s, _plan_names n")
    engine.unregister("_plan_names")


def _assign_sub_audiences(
    engine: Engine, campaign: Campaign, kept: str, into: str, audiences, as_of, columns
) -> None:
    """`into` (customer_id, audience): each kept member in the first sub-audience that takes it
    (one without a segment takes everyone left); members none takes are left out (unassigned)."""
    if not campaign.sub_audiences:
        _with_audience(engine, into, kept, campaign.name)
        return
    names = [sub.name for sub in campaign.sub_audiences]
    engine.register(
        "_plan_names",
        pa.table({"position": list(range(len(names))), "audience": pa.array(names, pa.string())}),
    )
    joins, cases = [], []
    for i, sub in enumerate(campaign.sub_audiences):
        if sub.segment is None:
            cases.append(f"WHEN true THEN {i}")
            break
        _ids(engine, f"_plan_sub_{i}", [sub.segment], audiences, as_of, columns)
        joins.append(f"LEFT JOIN _plan_sub_{i} s{i} ON s{i}.{_ID} = k.{_ID}")
        cases.append(f"WHEN s{i}.{_ID} IS NOT NULL THEN {i}")
    engine.create_temp(
        into,
        f"SELECT a.{_ID}, n.audience FROM ("
        f"SELECT k.{_ID}, CASE {' '.join(cases)} END AS position FROM {kept} k "
        f"{' '.join(joins)}) a JOIN _plan_names n ON n.position = a.position",
    )
    engine.unregister("_plan_names")
    for i in range(len(joins)):
        engine.drop_temp(f"_plan_sub_{i}")


def _members(engine: Engine, activation: Campaign | Orchestration, assigned: str) -> None:
    """MEMBERS from `assigned` (customer_id, audience): the control group and the membership
    attribute and value of each audience."""
    percent = activation.control_group_percent if isinstance(activation, Campaign) else 0
    name = activation.name
    engine.map_distinct(
        "_plan_groups",
        f"SELECT DISTINCT {_ID} FROM {assigned}",
        [ID_COLUMN],
        lambda customer: (
            CONTROL if percent and in_control_group(name, customer, percent) else TREATMENT,
        ),
        ["member_group"],
    )
    if isinstance(activation, Orchestration):
        resolved = {activation.sql_audience: activation.membership.resolve(name)}
    elif activation.sub_audiences:
        resolved = {
            s.name: activation.membership.resolve(name, s.name) for s in activation.sub_audiences
        }
    else:
        resolved = {name: activation.membership.resolve(name)}
    engine.register(
        "_plan_membership",
        pa.table(
            [
                pa.array(list(resolved), pa.string()),
                pa.array([r[0] for r in resolved.values()], pa.string()),
                pa.array([r[1] for r in resolved.values()], pa.string()),
            ],
            names=["audience", "membership_attribute", "membership_value"],
        ),
    )
    engine.create_temp(
        MEMBERS,
        f"SELECT a.audience, a.{_ID}, g.member_group, m.membership_attribute, "
        f"m.membership_value FROM {assigned} a JOIN _plan_groups g ON g.{_ID} = a.{_ID} "
        "JOIN _plan_membership m ON m.audience = a.audience",
    )
    engine.unregister("_plan_membership")
    engine.unregister("_plan_groups")


def plan_activation(
    con,
    name: str,
    audiences: AudiencesConfig,
    as_of: datetime,
    columns: Mapping[str, str] | None = None,
) -> Plan:
    """Evaluate a campaign or orchestration on the engine (on DuckDB a read-only connection);
    nothing is written: the plan's rows stay on the engine as temp tables."""
    engine = as_engine(con)
    activation = audiences.activation(name)
    if isinstance(activation, Orchestration):
        audience = activation.sql_audience
        materialise_audience(engine, audience, "_plan_rows", audiences, as_of, columns)
        present = engine.columns("_plan_rows")
        for column in present:
            problem = None if column == ID_COLUMN else custom_attribute_problem(column)
            if problem:
                raise AudienceError(audience, f"column {column!r} cannot be sent: {problem}")
        others = "".join(f", {quote(c)}" for c in present if c != ID_COLUMN)
        engine.create_temp(
            "_plan_attributes",
            f"SELECT CAST({_ID} AS VARCHAR) AS {_ID}{others} FROM _plan_rows",
        )
        engine.drop_temp("_plan_rows")
        _with_audience(engine, "_plan_assigned", "_plan_attributes", audience)
        targeted, excluded, unassigned = _count(engine, "_plan_assigned"), 0, 0
        _members(engine, activation, "_plan_assigned")
    else:
        _ids(engine, "_plan_targeted", activation.segments, audiences, as_of, columns)
        _ids(engine, "_plan_excluded", activation.exclude, audiences, as_of, columns)
        engine.create_temp(
            "_plan_kept",
            f"SELECT t.{_ID} FROM _plan_targeted t WHERE NOT EXISTS "
            f"(SELECT 1 FROM _plan_excluded e WHERE e.{_ID} = t.{_ID})",
        )
        _assign_sub_audiences(
            engine, activation, "_plan_kept", "_plan_assigned", audiences, as_of, columns
        )
        targeted, kept, assigned = (
            int(n)
            for n in engine.fetch(
                "SELECT (SELECT count(*) FROM _plan_targeted), (SELECT count(*) FROM _plan_kept), "
                "(SELECT count(*) FROM _plan_assigned)"
            )[0]
        )
        excluded, unassigned = targeted - kept, kept - assigned
        for table in ("_plan_targeted", "_plan_excluded", "_plan_kept"):
            engine.drop_temp(table)
        _members(engine, activation, "_plan_assigned")
        _campaign_attributes(engine, activation)
    engine.drop_temp("_plan_assigned")
    _attribute_texts(engine)
    engine.drop_temp("_plan_attributes")
    return Plan(activation, engine, targeted, excluded, unassigned)


def _campaign_attributes(engine: Engine, campaign: Campaign) -> None:
    """`_plan_attributes`: customer_id and the campaign's attributes of its treatment members."""
    if not campaign.attributes:
        engine.create_temp("_plan_attributes", f"SELECT {_ID} FROM {MEMBERS} WHERE false")
        return
    picks = "".join(
        f", s.{quote(column)} AS {quote(key)}" for key, column in campaign.attributes.items()
    )
    run_limited(
        engine,
        campaign.name,
        f"SELECT CAST(s.{_ID} AS VARCHAR) AS {_ID}{picks} FROM {quote(SOURCE_VIEW)} s "
        f"WHERE CAST(s.{_ID} AS VARCHAR) IN "
        f"(SELECT {_ID} FROM {MEMBERS} WHERE member_group = '{TREATMENT}')",
        kind="campaign",
        what="reading its attributes",
        into="_plan_attributes",
    )


def _attribute_texts(engine: Engine) -> None:
    """ATTRIBUTE_TEXTS from `_plan_attributes` (treatment members only), serialised per value
    in Python (map_batches: on Spark on the executors)."""
    treated = (
        f"SELECT a.* FROM _plan_attributes a WHERE a.{_ID} IN "
        f"(SELECT {_ID} FROM {MEMBERS} WHERE member_group = '{TREATMENT}')"
    )
    # Each column's attribute type, from the column's type: the same for every batch.
    empty = pl.from_arrow(engine.arrow_schema(treated).empty_table())
    types = {c: _declared_type(c, empty[c].dtype) for c in empty.columns if c != ID_COLUMN}
    engine.map_batches(
        ATTRIBUTE_TEXTS,
        treated,
        lambda batch: attribute_texts(pl.from_arrow(batch), types).to_arrow(),
        _TEXTS_SCHEMA,
    )


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
        plan = plan_activation(con, name, audiences, as_of, columns).carried()
    finally:
        con.close()
    with duckdb.connect(str(warehouse)) as con:
        return write_activation(con, plan, audiences, run_id)


def write_activation(con, plan: Plan, audiences: AudiencesConfig, run_id: str) -> CampaignReport:
    """Make `plan` (from `plan_activation`) the current membership through `con` (a writable
    DuckDB connection, or the engine that planned it); return the counts."""
    configured = [a.name for a in audiences.activations()]
    return _write(as_engine(con), plan, run_id, as_utc(datetime.now(UTC)), configured)


def _write(
    engine: Engine,
    plan: Plan,
    run_id: str,
    computed_at: datetime,
    configured: list[str],
) -> CampaignReport:
    act = plan.activation
    for table, columns in _TABLES.items():
        engine.create_table(table, columns)
    for table, rows in (plan.arrow or {}).items():
        engine.register(table, rows)
    engine.register("_plan_configured", pa.table({"campaign": pa.array(configured, pa.string())}))
    engine.register(
        "_plan_run",
        pa.table(
            [
                pa.array([act.name], pa.string()),
                pa.array([act.destination], pa.string()),
                pa.array([act.membership.mode], pa.string()),
                pa.array([run_id], pa.string()),
                pa.array([computed_at], pa.timestamp("us")),
            ],
            names=["campaign", "destination", "membership_mode", "run_id", "computed_at"],
        ),
    )
    this = "campaign = (SELECT campaign FROM _plan_run)"
    retired = "campaign NOT IN (SELECT campaign FROM _plan_configured)"
    try:
        joins, leaves, stays = engine.fetch(
            f"""WITH prev AS (SELECT audience, customer_id FROM {tables.AUDIENCE_MEMBERS}
                              WHERE {this} AND member_group = '{TREATMENT}'),
                    cur AS (SELECT audience, customer_id FROM {MEMBERS} WHERE member_group = '{TREATMENT}')
               SELECT count(*) FILTER (WHERE prev.customer_id IS NULL),
                      count(*) FILTER (WHERE cur.customer_id IS NULL),
                      count(*) FILTER (WHERE prev.customer_id IS NOT NULL AND cur.customer_id IS NOT NULL)
               FROM prev FULL OUTER JOIN cur
                 ON prev.audience = cur.audience AND prev.customer_id = cur.customer_id"""
        )[0]
        # A campaign removed from config must not stay a member forever: dropping its rows makes
        # the sync send leaves.
        retired_campaigns = sorted(
            r[0]
            for r in engine.fetch(
                f"SELECT DISTINCT campaign FROM {tables.AUDIENCE_MEMBERS} WHERE {retired}"
            )
        )
        with engine.atomic():
            engine.replace_rows(
                tables.AUDIENCE_MEMBERS,
                f"{retired} OR {this}",
                f"""SELECT r.campaign, m.audience, r.destination, m.customer_id, m.member_group,
                       r.membership_mode, m.membership_attribute, m.membership_value, r.run_id,
                       r.computed_at
                FROM {MEMBERS} m, _plan_run r ORDER BY m.customer_id""",
            )
            engine.replace_rows(
                tables.CAMPAIGN_RECIPIENTS,
                f"{this} AND run_id = (SELECT run_id FROM _plan_run)",
                f"""SELECT r.campaign, m.audience, m.customer_id, m.member_group, r.run_id,
                       r.computed_at
                FROM {MEMBERS} m, _plan_run r ORDER BY m.customer_id""",
            )
            engine.replace_rows(
                tables.CAMPAIGN_MEMBER_ATTRIBUTES,
                f"{retired} OR {this}",
                f"""SELECT r.campaign, r.destination, a.customer_id, a.attribute, a.value, r.run_id,
                       r.computed_at
                FROM {ATTRIBUTE_TEXTS} a, _plan_run r ORDER BY a.attribute, a.customer_id""",
            )
        groups = engine.fetch(
            f"SELECT audience, member_group, count(*) FROM {MEMBERS} GROUP BY audience, member_group"
        )
        sizes = sorted((a, int(n)) for a, group, n in groups if group == TREATMENT)
        size, treatment = sum(int(n) for *_, n in groups), sum(n for _, n in sizes)
    finally:
        for table in ("_plan_configured", "_plan_run", ATTRIBUTE_TEXTS):
            engine.unregister(table)
        # The plan is used up: registered Arrow when carried, else a temp table.
        engine.unregister(MEMBERS) if plan.arrow is not None else engine.drop_temp(MEMBERS)
    return CampaignReport(
        campaign=act.name,
        kind="orchestration" if isinstance(act, Orchestration) else "campaign",
        destination=act.destination,
        run_id=run_id,
        computed_at=computed_at,
        targeted=plan.targeted,
        excluded=plan.excluded,
        unassigned=plan.unassigned,
        size=int(size),
        treatment=int(treatment),
        control=int(size - treatment),
        joins=int(joins),
        leaves=int(leaves),
        stays=int(stays),
        audience_sizes={a: int(n) for a, n in sizes},
        retired_campaigns=retired_campaigns,
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


def attribute_texts(
    attributes: pl.DataFrame, types: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """customer_id, attribute, value (canonical JSON text, as the sync compares it); NULLs are left
    out. `types` (column -> attribute type) defaults to what each column's dtype serialises as."""
    parts = [pl.DataFrame(schema={ID_COLUMN: pl.Utf8, "attribute": pl.Utf8, "value": pl.Utf8})]
    for key in attributes.columns:
        if key == ID_COLUMN:
            continue
        declared = (types or {}).get(key) or _declared_type(key, attributes[key].dtype)
        mapping = AttributeMapping(name=key, column=key, type=declared)
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
