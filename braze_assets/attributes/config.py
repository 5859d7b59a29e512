"""Config section `destinations`: which Braze workspace gets which attributes, keyed how.

Rules that need only the entry itself run as pydantic validators (the loader reports them with the
file and entry). Rules that need the warehouse's columns run in `check_destinations`, against the
static catalogue, because the tables do not exist yet when the definitions load.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any, Literal

import pycountry
from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from braze_assets.attributes import catalogue
from braze_assets.attributes.expressions import (
    inferred_type,
    parse_expression,
    referenced_columns,
    result_literals,
)
from braze_assets.attributes.fields import (
    GENDER_CODES,
    IDENTIFIER_KINDS,
    STANDARD_FIELDS,
    SUBSCRIPTION_STATES,
    standard_field_meant,
)
from braze_assets.attributes.types import (
    MAX_STRING_CHARS,
    AttributeType,
    parse_type,
    source_family,
    type_mismatch,
)
from braze_assets.errors import ConfigError
from braze_assets.names import ATTRIBUTE_TAG
from braze_assets.strict import StrictModel, name_validator

# braze_assets.config's package imports its model, which imports this module: anything from
# braze_assets.config is imported where it is used, so either package can be imported first.

# Columns of braze_customer_attributes that are not attributes.
RESERVED_COLUMNS = ("destination", "customer_id", "identifier", "alias_name", "alias_label")

Label = StrictBool | StrictInt | StrictFloat | StrictStr
# Standard fields whose values come from a fixed list.
_FIXED_VALUES = {
    "gender": GENDER_CODES,
    "email_subscribe": SUBSCRIPTION_STATES,
    "push_subscribe": SUBSCRIPTION_STATES,
}


class RoundTransform(StrictModel):
    """Round a number to digits or to a step, so noise below that does not count as a change."""

    digits: int | None = Field(
        None, description="Round to this many decimal digits (negative: tens, hundreds...)."
    )
    step: Decimal | None = Field(
        None, gt=0, description="Round to the nearest multiple of this step, e.g. 5 or 0.25."
    )

    @model_validator(mode="after")
    def _one(self) -> RoundTransform:
        if (self.digits is None) == (self.step is None):
            raise ValueError("round needs exactly one of digits or step")
        return self


class BucketTransform(StrictModel):
    """Map a number onto labels, e.g. days since the latest order -> active / lapsing / lapsed."""

    thresholds: list[Decimal] = Field(
        min_length=1,
        description="Ascending cut points; a value gets labels[i] where i = number of thresholds <= value.",
    )
    labels: list[Label] = Field(
        description="One more label than thresholds, in the attribute's type."
    )

    @model_validator(mode="after")
    def _shape(self) -> BucketTransform:
        if any(b <= a for a, b in zip(self.thresholds, self.thresholds[1:])):
            raise ValueError("bucket thresholds must be strictly ascending")
        if len(self.labels) != len(self.thresholds) + 1:
            raise ValueError(
                f"bucket needs {len(self.thresholds) + 1} labels for {len(self.thresholds)} thresholds, "
                f"got {len(self.labels)}"
            )
        return self


class Transform(StrictModel):
    """Exactly one of round or bucket."""

    round: RoundTransform | None = Field(
        None, description="Round numbers so noise does not count as a change."
    )
    bucket: BucketTransform | None = Field(
        None, description="Map a number onto a few labels (or true/false)."
    )

    @model_validator(mode="after")
    def _one(self) -> Transform:
        if (self.round is None) == (self.bucket is None):
            raise ValueError("transform needs exactly one of round or bucket")
        return self


def _label_fits(label: Any, declared: AttributeType) -> bool:
    if declared.kind == "boolean":
        return isinstance(label, bool)
    if isinstance(label, bool):
        return False
    if declared.kind == "integer":
        return isinstance(label, int)
    if declared.kind in ("float", "decimal"):
        return isinstance(label, (int, float))
    if declared.is_text:
        return isinstance(label, str) and len(label) <= (declared.max_chars or MAX_STRING_CHARS)
    return False


class AttributeMapping(StrictModel):
    """One Braze attribute: its name, where its value comes from, its type and how it is sent."""

    name: str = Field(
        description="Braze standard field (lowercase, e.g. first_name, dob) or custom attribute name."
    )
    column: str | None = Field(None, description="Column of the view customer_attribute_source.")
    sql: str | None = Field(
        None, description="DuckDB SQL expression over customer_attribute_source's columns."
    )
    type: str = Field(
        description="boolean | date | datetime | decimal(p,s) | float | integer | string | varchar(n)."
    )
    nulls: Literal["skip", "clear"] = Field(
        "skip",
        description="skip: send nothing for a NULL; clear: send null, which removes the attribute in Braze.",
    )
    transform: Transform | None = Field(
        None, description="Optional rounding or bucketing applied before sending."
    )
    scope: Literal["all", "campaign_members"] = Field(
        "all",
        description=(
            "all: every profile; campaign_members: only profiles in the treatment group of a campaign "
            "activated on this destination; a profile that leaves them keeps its last value unless nulls is clear."
        ),
    )

    @property
    def attribute_type(self) -> AttributeType:
        return parse_type(self.type)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return str(parse_type(value))

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str | None) -> str | None:
        if value is not None:
            parse_expression(value)
        return value

    @model_validator(mode="after")
    def _rules(self) -> AttributeMapping:
        label = f"attribute {self.name[:60]!r}"
        if (self.column is None) == (self.sql is None):
            raise ValueError(f"{label} needs exactly one of column or sql")
        problem = name_problem(self.name)
        if problem:
            raise ValueError(f"{label}: {problem}")
        declared = self.attribute_type
        field = STANDARD_FIELDS.get(self.name)
        if field is not None and declared.kind not in field.kinds:
            allowed = " or ".join(field.kinds)
            note = f" ({field.note})" if field.note else ""
            raise ValueError(
                f"{label} is Braze's standard field: declare type {allowed}{note}, not {declared}"
            )
        if self.transform and self.transform.round and not declared.is_numeric:
            raise ValueError(
                f"{label}: round applies to integer, float or decimal types, not {declared}"
            )
        allowed_values = _FIXED_VALUES.get(self.name)
        if self.transform and self.transform.bucket:
            labels = self.transform.bucket.labels
            misfit = [lab for lab in labels if not _label_fits(lab, declared)]
            if declared.kind in ("date", "datetime") or misfit:
                raise ValueError(
                    f"{label}: bucket labels {misfit or labels} do not fit type {declared}"
                )
            if allowed_values and any(lab not in allowed_values for lab in labels):
                raise ValueError(
                    f"{label}: bucket labels must be among {', '.join(allowed_values)}"
                )
        if allowed_values and self.sql is not None:
            wrong = [
                v for v in result_literals(parse_expression(self.sql)) if v not in allowed_values
            ]
            if wrong:
                raise ValueError(
                    f"{label}: sql returns {', '.join(map(repr, wrong))}; Braze accepts "
                    f"{', '.join(allowed_values)}"
                )
        return self


def name_problem(name: str) -> str | None:
    """Why `name` cannot be sent as an attribute (None when it can)."""
    if not name.strip():
        return "the name is empty"
    if len(name) > MAX_STRING_CHARS:
        return f"the name has {len(name)} characters; Braze allows at most {MAX_STRING_CHARS}"
    if name.startswith("$"):
        return "names starting with '$' are reserved by Braze"
    if "." in name:
        return "names must not contain '.' (Braze reads it as a nested-object path)"
    if name in IDENTIFIER_KINDS:
        return f"{name} identifies the profile; declare it as the destination's identifier, not as an attribute"
    if name.startswith("_"):
        return (
            "names starting with '_' are reserved for request flags such as _update_existing_only"
        )
    if name.lower() in RESERVED_COLUMNS:
        return f"{name!r} is a column of braze_customer_attributes; choose another name"
    field = STANDARD_FIELDS.get(name.lower())
    if field is not None and name != name.lower():
        return f"Braze standard fields are lowercase and case-sensitive: use {name.lower()!r}, not {name!r}"
    if field is not None and not field.mappable:
        return f"{name.lower()} is {field.note}, not a scalar attribute; it cannot be mapped from a column"
    meant = standard_field_meant(name)
    if meant:
        return (
            f"{name!r} would create a custom attribute and leave Braze's standard field {meant!r} untouched; "
            f"name it {meant!r}"
        )
    return None


class DestinationConfig(StrictModel):
    """A Braze workspace (or a slice of one) and the attributes it receives."""

    name: str = Field(
        description="Short name; rows of braze_customer_attributes carry it as `destination`."
    )
    identifier: Literal["external_id", "braze_id", "user_alias", "email", "phone"] = Field(
        description=(
            "How profiles are addressed in /users/track. email / phone: the profile's email "
            "(normalised) or phone (E.164, read with phone_region); rows whose value is not one "
            "are rejected."
        )
    )
    identifier_column: str | None = Field(
        None,
        description="View column holding the external_id, braze_id, email or phone (not for user_alias).",
    )
    alias_name_column: str | None = Field(
        None, description="View column with the alias name (user_alias only)."
    )
    alias_label_column: str | None = Field(
        None, description="View column with the alias label (user_alias only)."
    )
    update_existing_only: bool = Field(
        True,
        description="Send _update_existing_only: true so only profiles that already exist in Braze change.",
    )
    phone_region: str = Field(
        "US", description="ISO country used to read phone numbers written without a country code."
    )
    attributes: list[AttributeMapping] = Field(min_length=1, description="The attributes to send.")

    _name = name_validator("destination name")

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValueError(f"phone_region {value!r} is not an ISO 3166-1 alpha-2 country code")
        return value.upper()

    @model_validator(mode="after")
    def _identifier_and_names(self) -> DestinationConfig:
        alias = (self.alias_name_column, self.alias_label_column)
        if self.identifier == "user_alias":
            if None in alias or self.identifier_column is not None:
                raise ValueError(
                    "identifier user_alias needs alias_name_column and alias_label_column (and no identifier_column)"
                )
        elif self.identifier_column is None or alias != (None, None):
            raise ValueError(
                f"identifier {self.identifier} needs identifier_column (and no alias_*_column)"
            )
        if self.identifier in ("email", "phone") and any(
            m.name == self.identifier for m in self.attributes
        ):
            raise ValueError(
                f"destination {self.name!r} identifies profiles by {self.identifier}: a profile's "
                f"{self.identifier} is its identifier there, so do not also map an attribute "
                f"{self.identifier!r}"
            )
        seen: dict[str, str] = {}
        for mapping in self.attributes:
            # The table holds one column per attribute and DuckDB column names ignore case.
            other = seen.get(mapping.name.lower())
            if other is not None:
                same = (
                    "is listed twice"
                    if other == mapping.name
                    else f"differs from {other!r} only by case"
                )
                raise ValueError(f"attribute {mapping.name!r} {same} in destination {self.name!r}")
            seen[mapping.name.lower()] = mapping.name
        return self

    @property
    def identifier_columns(self) -> dict[str, str]:
        """Output column -> view column for the identifier."""
        if self.identifier == "user_alias":
            return {"alias_name": self.alias_name_column, "alias_label": self.alias_label_column}
        return {self.identifier: self.identifier_column}

    def attribute(self, name: str) -> AttributeMapping:
        return next(m for m in self.attributes if m.name == name)


def carried_columns(config: Any) -> list[str]:
    """Source columns tagged `attribute`, which the customer 360 carries under their own names."""
    return [
        column
        for source in config.sources
        for column, tag in source.columns.items()
        if tag == ATTRIBUTE_TAG
    ]


def _unknown(column: str, columns: dict[str, str]) -> str:
    close = difflib.get_close_matches(column, list(columns), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown column {column!r} of customer_attribute_source{hint}"


def _source_type_problem(mapping: AttributeMapping, columns: dict[str, str]) -> str | None:
    transform = mapping.transform
    if mapping.column is not None:
        if mapping.column not in columns:
            return _unknown(mapping.column, columns)
        source_type = columns[mapping.column]
        exact = True
    else:
        expression = parse_expression(mapping.sql)
        unknown = [c for c in referenced_columns(expression) if c not in columns]
        if unknown:
            return f"sql {mapping.sql!r}: " + _unknown(unknown[0], columns)
        source_type = inferred_type(expression, columns)
        exact = False  # sqlglot's inference is coarse (e.g. round(decimal) -> DOUBLE): only gross mismatches
        if source_type is None:
            return None
    if transform is not None:
        # round and bucket read a number; the declared type describes their output.
        family = source_family(source_type)
        if family not in ("integer", "fractional", "text", "null"):
            return f"{'round' if transform.round else 'bucket'} needs a number, but the source is {source_type}"
        return None
    return type_mismatch(source_type, mapping.attribute_type, rounded=not exact)


def check_destinations(config: Any, *, file: str | None = None) -> None:
    """Cross-section checks of config.destinations against the view's catalogue; raises ConfigError."""
    destinations = config.destinations
    columns = catalogue.source_columns(carried_columns(config))
    names = [d.name for d in destinations]
    for i, destination in enumerate(destinations):
        entry = f"destinations[{i}]"
        if names.count(destination.name) > 1:
            raise ConfigError(
                f"destination name {destination.name!r} is used more than once",
                file=file,
                entry=entry,
            )
        for output, column in destination.identifier_columns.items():
            if column not in columns:
                raise ConfigError(f"{output}: " + _unknown(column, columns), file=file, entry=entry)
            if type_mismatch(columns[column], parse_type("string")):
                raise ConfigError(
                    f"{output}: column {column!r} is {columns[column]}, not an id",
                    file=file,
                    entry=entry,
                )
        for j, mapping in enumerate(destination.attributes):
            problem = _source_type_problem(mapping, columns)
            if problem:
                raise ConfigError(
                    f"attribute {mapping.name!r}: {problem}",
                    file=file,
                    entry=f"{entry}.attributes[{j}]",
                )
