"""Config models for the raw inputs: customer record sources and transaction sources."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from braze_assets.names import ATTRIBUTE_TAG, CUSTOM_IDENTIFIER_PREFIX, NAME_PATTERN, check_name
from braze_assets.strict import StrictModel

# Semantic tags tell identity resolution what a column means; anything else is carried as-is.
PERSON_TAGS = (
    "given_name",
    "surname",
    "full_name",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "birthdate",
    "gender",
    "loyalty_id",
    "external_id",
)


class SourceConfig(StrictModel):
    """One table or file of customer records."""

    name: str = Field(description="Short name; the raw table is raw_<name>.")
    path: str = Field(description="CSV or Parquet file, relative to the data dir (or absolute).")
    primary_key: str = Field(description="Column that identifies a record within this source.")
    updated_at: str = Field(description="Column with the record's last update time (recency wins).")
    priority: int = Field(
        100, description="Lower is more trusted when choosing customer 360 fields."
    )
    default_region: str = Field(
        "US", description="ISO country used to parse phones without a country code."
    )
    columns: dict[str, str] = Field(description="Source column -> semantic tag.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "source name")

    @field_validator("columns")
    @classmethod
    def _tags(cls, columns: dict[str, str]) -> dict[str, str]:
        for column, tag in columns.items():
            if tag in PERSON_TAGS or tag == ATTRIBUTE_TAG:
                continue
            if tag.startswith(CUSTOM_IDENTIFIER_PREFIX) and NAME_PATTERN.match(
                tag[len(CUSTOM_IDENTIFIER_PREFIX) :]
            ):
                continue
            raise ValueError(
                f"column {column!r} has unknown tag {tag!r}; use one of {', '.join(PERSON_TAGS)}, "
                f"'{ATTRIBUTE_TAG}' or '{CUSTOM_IDENTIFIER_PREFIX}<name>'"
            )
        person = [t for t in columns.values() if t != ATTRIBUTE_TAG]
        duplicated = sorted(
            {
                t
                for t in person
                if person.count(t) > 1 and t not in ("address_line1", "address_line2")
            }
        )
        if duplicated:
            raise ValueError(f"tags used by more than one column: {', '.join(duplicated)}")
        return columns

    @model_validator(mode="after")
    def _keys_present(self) -> SourceConfig:
        if not any(t != ATTRIBUTE_TAG for t in self.columns.values()):
            raise ValueError(
                "no column is tagged with a person field; identity resolution has nothing to match on"
            )
        return self

    def columns_with_tag(self, tag: str) -> list[str]:
        return [c for c, t in self.columns.items() if t == tag]


class TransactionSourceConfig(StrictModel):
    """Orders or store transactions, linked to the customer records of one source."""

    name: str = Field(description="Short name; the raw table is raw_txn_<name>.")
    path: str = Field(description="CSV or Parquet file, relative to the data dir (or absolute).")
    primary_key: str = Field(description="Column with the order / transaction id.")
    source: str = Field(
        description="Name of the customer source whose records these rows belong to."
    )
    customer_key: str = Field(description="Column holding that source's primary key.")
    ordered_at: str = Field(description="Column with the order time.")
    revenue: str = Field(description="Column with the order revenue (a decimal number).")
    items: str | None = Field(None, description="Column with the number of items.")
    channel: str | None = Field(None, description="Column with the sales channel.")
    channel_value: str | None = Field(
        None, description="Constant channel when the file has no channel column."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "transaction source name")

    @model_validator(mode="after")
    def _channel(self) -> TransactionSourceConfig:
        if self.channel and self.channel_value:
            raise ValueError(
                "set either channel (a column) or channel_value (a constant), not both"
            )
        return self
