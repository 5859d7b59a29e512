"""The `audiences` config section: rule segments, SQL audiences, campaigns and orchestrations.

What this section alone decides (shape, names, segment references and cycles, cron strings,
read-only SQL) is checked by the models, so the loader reports the file and entry.
`check_audiences` (a cross-section check) judges conditions and campaign attributes against the
columns of `customer_attribute_source`, which depend on the sources section, and destination names.

`sql_file` paths are resolved against the validation context's `config_dir`
(`model_validate(..., context={"config_dir": ...})`), else the configured config directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from braze_assets import settings
from braze_assets.attributes.config import carried_columns, name_problem
from braze_assets.attributes.fields import STANDARD_FIELDS
from braze_assets.audiences.cadence import check_cadence
from braze_assets.audiences.columns import Kind, catalogue_types, column_kinds
from braze_assets.audiences.rules import OPS, check_condition, unknown_column_message
from braze_assets.audiences.sql_guard import validate_sql_audience
from braze_assets.errors import ConfigError
from braze_assets.strict import StrictModel, name_validator


def custom_attribute_problem(name: str) -> str | None:
    """Why `name` cannot be a custom attribute written by a campaign (None when it can)."""
    problem = name_problem(name)
    if problem is None and name in STANDARD_FIELDS:
        problem = f"{name!r} is a Braze standard field; campaigns write custom attributes only (map it in destinations)"
    return problem


def _attribute_name(value: str) -> str:
    problem = custom_attribute_problem(value)
    if problem:
        raise ValueError(f"attribute {value!r}: {problem}")
    return value


class _Strict(StrictModel):
    # Fields with an alias accept their Python name too.
    model_config = ConfigDict(populate_by_name=True)


class Condition(_Strict):
    """`column op value` over one column of customer_attribute_source."""

    column: str = Field(
        description="Column of customer_attribute_source (customer 360 + transaction + engagement attributes)."
    )
    op: str = Field(
        description="One of: "
        + ", ".join(OPS)
        + ". Quote the symbols in YAML ('>='). `!=` and `not in` "
        "count a missing value as different; 'within last days' is relative to the run's as-of time.",
    )
    value: Any = Field(
        None,
        description="A value; a list for in / not in; [low, high] for between; days for 'within last days'; none for is (not) null.",
    )

    @field_validator("op")
    @classmethod
    def _op(cls, v: str) -> str:
        # "NOT IN", "starts  with" and "within_last_days" all mean the documented operator.
        return " ".join(v.lower().replace("_", " ").split())


class AllOf(_Strict):
    all_of: list[Node] = Field(alias="all", min_length=1, description="Every condition must hold.")


class AnyOf(_Strict):
    any_of: list[Node] = Field(
        alias="any", min_length=1, description="At least one condition must hold."
    )


class MemberOf(_Strict):
    member_of: str = Field(
        description="Name of another segment or SQL audience the customer must belong to."
    )


def _node_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {Condition: "condition", AllOf: "all", AnyOf: "any", MemberOf: "member_of"}.get(
            type(value)
        )
    if isinstance(value, dict):
        for key in ("all", "any", "member_of", "column"):
            if key in value:
                return "condition" if key == "column" else key
    return None


Node = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[MemberOf, Tag("member_of")],
    Discriminator(
        _node_tag,
        custom_error_type="segment_condition",
        custom_error_message="a condition is {column, op, value}, {all: [...]}, {any: [...]} or {member_of: name}",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def walk(node: Node):
    """Every node of a condition tree, depth first."""
    yield node
    for child in getattr(node, "all_of", None) or getattr(node, "any_of", None) or ():
        yield from walk(child)


class Segment(_Strict):
    """A rule-based segment: customers of customer_attribute_source matching `where`."""

    name: str = Field(description="Unique name among segments and SQL audiences.")
    description: str = Field("", description="What the segment is for (shown in the UI).")
    where: Node = Field(
        description="A condition {column, op, value}; a group {all: [...]} or {any: [...]} of conditions and groups, "
        "nested freely; or {member_of: <segment or SQL audience>}."
    )

    _name = name_validator("segment name")

    def references(self) -> list[str]:
        return [n.member_of for n in walk(self.where) if isinstance(n, MemberOf)]


class SqlAudience(_Strict):
    """An analyst's query over the warehouse returning `customer_id` and optional attribute columns."""

    name: str = Field(description="Unique name among segments and SQL audiences.")
    description: str = Field("", description="What the audience is for (shown in the UI).")
    sql: str | None = Field(None, description="A single read-only SELECT or WITH ... SELECT query.")
    sql_file: str | None = Field(
        None, description="A .sql file holding the query, relative to the config directory."
    )

    _name = name_validator("SQL audience name")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or data.get("sql_file") is None:
            return data
        name = data.get("name", "?")
        if data.get("sql") is not None:
            raise ValueError(f"SQL audience {name!r}: give either sql or sql_file, not both")
        base = Path((info.context or {}).get("config_dir") or settings.config_dir()).resolve()
        path = (base / data["sql_file"]).resolve()
        # Config may come from someone else than who runs it: a query file stays inside the config dir.
        if not path.is_relative_to(base):
            raise ValueError(
                f"SQL audience {name!r}: sql_file {data['sql_file']!r} is outside the config directory "
                f"{str(base)!r}; keep query files inside it"
            )
        if not path.is_file():
            raise ValueError(f"SQL audience {name!r}: sql_file {str(path)!r} does not exist")
        return {**data, "sql": path.read_text(encoding="utf-8")}

    @model_validator(mode="after")
    def _read_only(self) -> SqlAudience:
        if self.sql is None:
            raise ValueError(f"SQL audience {self.name!r}: give sql or sql_file")
        validate_sql_audience(self.name, self.sql)
        return self


class Membership(_Strict):
    """How membership reaches Braze: a boolean attribute per audience, or one string-array attribute."""

    mode: Literal["boolean", "array"] = Field(
        "boolean",
        description="boolean: attribute true on join, false on leave. array: the audience label is added to / removed from a string array.",
    )
    attribute: str | None = Field(
        None,
        description="boolean: the attribute name (default in_<campaign>; with sub-audiences <attribute>_<sub-audience>). "
        "array: the array attribute (default 'audiences'), whose elements are <campaign> or <campaign>_<sub-audience>.",
    )

    @field_validator("attribute")
    @classmethod
    def _attribute(cls, v: str | None) -> str | None:
        return None if v is None else _attribute_name(v)

    def resolve(self, activation: str, sub_audience: str | None = None) -> tuple[str, str | None]:
        """(membership_attribute, membership_value) for one audience of a campaign or orchestration."""
        label = activation if sub_audience is None else f"{activation}_{sub_audience}"
        if self.mode == "array":
            return self.attribute or "audiences", label
        if self.attribute is None:
            return f"in_{label}", None
        return (
            self.attribute if sub_audience is None else f"{self.attribute}_{sub_audience}"
        ), None


class SubAudience(_Strict):
    """A split of the campaign audience; each member goes to the first sub-audience it matches."""

    name: str = Field(description="Unique within the campaign.")
    segment: str | None = Field(
        None,
        description="Segment or SQL audience to match; omit for 'everyone left' (put it last).",
    )

    _name = name_validator("sub-audience name")


class _Activation(_Strict):
    name: str = Field(
        description="Unique among campaigns and orchestrations; the partition key in the UI."
    )
    description: str = Field("", description="What it is for (shown in the UI).")
    destination: str = Field(description="Name of a destination in the destinations section.")
    membership: Membership = Field(
        default_factory=Membership, description="How membership is written to Braze."
    )
    cadence: str = Field(
        "once",
        description="once (run by hand), daily, weekly (Mondays), monthly (the 1st), all at 06:00 UTC, or a five-field cron string.",
    )
    test_run_records: int = Field(
        10, ge=1, le=1000, description="How many records a test run shows (nothing is sent)."
    )

    _name = name_validator("campaign / orchestration name")

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, v: str) -> str:
        return check_cadence(v)


class Campaign(_Activation):
    """Segments to target, exclusions, a control group, sub-audiences and the attributes to send."""

    segments: list[str] = Field(
        min_length=1,
        description="Segments or SQL audiences; a customer in any of them is targeted.",
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Segments or SQL audiences; a customer in any of them is dropped.",
    )
    control_group_percent: float = Field(
        0,
        ge=0,
        lt=100,
        description="Share of the audience held out (not sent); stable across runs by hashing campaign + customer.",
    )
    sub_audiences: list[SubAudience] = Field(
        default_factory=list, description="Optional ordered split of the audience."
    )
    attributes: dict[str, str] | list[str] = Field(
        default_factory=dict,
        description="Attributes sent to members: Braze attribute name -> customer_attribute_source column (a list means same names).",
    )

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v: dict[str, str] | list[str]) -> dict[str, str]:
        mapping = {c: c for c in v} if isinstance(v, list) else v
        for key in mapping:
            _attribute_name(key)
        return mapping

    @model_validator(mode="after")
    def _check(self) -> Campaign:
        names = [s.name for s in self.sub_audiences]
        if len(set(names)) != len(names):
            raise ValueError(f"campaign {self.name!r}: sub-audience names must be unique")
        if any(s.segment is None for s in self.sub_audiences[:-1]):
            raise ValueError(
                f"campaign {self.name!r}: only the last sub-audience may omit its segment"
            )
        return self

    def audience_refs(self) -> list[str]:
        return [
            *self.segments,
            *self.exclude,
            *(s.segment for s in self.sub_audiences if s.segment),
        ]


class Orchestration(_Activation):
    """The analyst path: a SQL audience sent to a destination on a schedule; its extra columns are the attributes."""

    sql_audience: str = Field(description="Name of an entry in sql_audiences.")


class AudiencesConfig(_Strict):
    """Segments and SQL audiences say who; campaigns and orchestrations say where, how and when."""

    segments: list[Segment] = Field(
        default_factory=list, description="Rule-based segments (no SQL)."
    )
    sql_audiences: list[SqlAudience] = Field(
        default_factory=list, description="Named read-only SQL queries."
    )
    campaigns: list[Campaign] = Field(default_factory=list, description="Segment-based campaigns.")
    orchestrations: list[Orchestration] = Field(
        default_factory=list, description="SQL audience + destination + cadence."
    )

    @model_validator(mode="after")
    def _references(self) -> AudiencesConfig:
        _unique("segment / SQL audience", [a.name for a in [*self.segments, *self.sql_audiences]])
        _unique("campaign / orchestration", [a.name for a in self.activations()])
        audiences = set(self.audience_names())
        for segment in self.segments:
            for ref in segment.references():
                if ref not in audiences:
                    raise ValueError(f"segment {segment.name!r}: member_of unknown segment {ref!r}")
        _check_cycles({s.name: s.references() for s in self.segments})
        for campaign in self.campaigns:
            for ref in campaign.audience_refs():
                if ref not in audiences:
                    raise ValueError(
                        f"campaign {campaign.name!r}: unknown segment or SQL audience {ref!r}"
                    )
        sql_names = {a.name for a in self.sql_audiences}
        for orch in self.orchestrations:
            if orch.sql_audience not in sql_names:
                raise ValueError(
                    f"orchestration {orch.name!r}: unknown SQL audience {orch.sql_audience!r}"
                )
        return self

    def audience_names(self) -> list[str]:
        return [a.name for a in [*self.segments, *self.sql_audiences]]

    def activations(self) -> list[Campaign | Orchestration]:
        return [*self.campaigns, *self.orchestrations]

    def activation(self, name: str) -> Campaign | Orchestration:
        for a in self.activations():
            if a.name == name:
                return a
        raise KeyError(f"no campaign or orchestration named {name!r}")

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def sql_audience(self, name: str) -> SqlAudience | None:
        return next((s for s in self.sql_audiences if s.name == name), None)


def _unique(what: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")


def _check_cycles(graph: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name not in graph:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :] + [name]
            raise ValueError(f"segment {name!r} is in a member_of cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for ref in graph[name]:
            visit(ref, [*path, name])
        state[name] = 2

    for name in graph:
        visit(name, [])


def _attribute_conflicts(
    audiences: AudiencesConfig, mapped: Mapping[str, list[str]]
) -> Iterator[tuple[str, str]]:
    """(entry, problem) for a Braze attribute written two ways on one destination.

    A boolean membership attribute shared by two campaigns would let one campaign's leave undo the
    other's join; a name used both for membership and for a value cannot hold both. `mapped` gives
    each destination's mapped attribute names.
    """
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (destination, attribute) -> (use, owner)
    for destination, names in mapped.items():
        for name in names:
            seen[(destination, name)] = ("mapped attribute", f"destination {destination!r}")
    for kind, items in (
        ("campaigns", audiences.campaigns),
        ("orchestrations", audiences.orchestrations),
    ):
        for i, act in enumerate(items):
            subs = (
                [s.name for s in act.sub_audiences]
                if isinstance(act, Campaign) and act.sub_audiences
                else [None]
            )
            uses = [
                (
                    act.membership.resolve(act.name, sub)[0],
                    f"{act.membership.mode} membership",
                    "membership",
                )
                for sub in subs
            ]
            if isinstance(act, Campaign):
                uses += [(key, "campaign attribute", "attributes") for key in act.attributes]
            for attribute, use, field in uses:
                key, owner = (act.destination, attribute), f"{kind[:-1]} {act.name!r}"
                previous = seen.setdefault(key, (use, owner))
                shared_array = previous[0] == use == "array membership"
                if previous != (use, owner) and not shared_array:
                    yield (
                        f"audiences.{kind}[{i}].{field}",
                        f"{owner}: attribute {attribute!r} on destination {act.destination!r} is already a "
                        f"{previous[0]} of {previous[1]}; use another name",
                    )


def _problems(audiences: AudiencesConfig, kinds: Mapping[str, Kind]) -> Iterator[tuple[str, str]]:
    """(entry, problem) for every condition or campaign attribute that does not fit the columns."""
    for i, segment in enumerate(audiences.segments):
        for node in walk(segment.where):
            if isinstance(node, Condition):
                try:
                    check_condition(node.column, node.op, node.value, kinds)
                except ValueError as exc:
                    yield (
                        f"audiences.segments[{i}]",
                        f"segment {segment.name!r}: condition {node.column} {node.op}: {exc}",
                    )
    for i, campaign in enumerate(audiences.campaigns):
        for key, column in campaign.attributes.items():
            problem = None
            if column not in kinds:
                problem = unknown_column_message(column, kinds)
            elif kinds[column] in (Kind.TEXT_LIST, Kind.OTHER):
                problem = f"column {column!r} is a {kinds[column].value} column; campaigns send scalar values"
            if problem:
                yield (
                    f"audiences.campaigns[{i}].attributes",
                    f"campaign {campaign.name!r}: attribute {key!r}: {problem}",
                )


def check_audiences(
    # The ProjectConfig (or a stand-in with audiences, sources and destinations): this domain
    # must not import the config package that holds it.
    config: Any,
    *,
    file: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> None:
    """Checks that need more than this section: segment conditions and campaign attributes against
    the catalogue of customer_attribute_source (including the sources' carried columns), Braze
    attribute names written two ways on one destination, and destination names. `columns`
    (column -> DuckDB type) replaces the catalogue, for tests."""
    audiences: AudiencesConfig = config.audiences
    if columns is None:
        columns = catalogue_types(carried_columns(config))
    destinations = config.destinations
    mapped = {d.name: [m.name for m in d.attributes] for d in destinations}
    for entry, problem in [
        *_problems(audiences, column_kinds(columns)),
        *_attribute_conflicts(audiences, mapped),
    ]:
        raise ConfigError(problem, file=file, entry=entry)
    known = [d.name for d in destinations]
    for kind, items in (
        ("campaigns", audiences.campaigns),
        ("orchestrations", audiences.orchestrations),
    ):
        for i, act in enumerate(items):
            if act.destination not in known:
                raise ConfigError(
                    f"{kind[:-1]} {act.name!r}: unknown destination {act.destination!r}; known: {', '.join(known) or 'none'}",
                    file=file,
                    entry=f"audiences.{kind}[{i}].destination",
                )
