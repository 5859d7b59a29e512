"""The `sync.lifecycle` config section: merges, deletions, orders, consent, unknown-user retries."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from braze_assets.strict import StrictModel

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MergeMode = Literal["merge", "leave_and_clear", "off"]


class DeletionConfig(StrictModel):
    """Profiles deleted from Braze with /users/delete."""

    enabled: bool = Field(
        False,
        description=(
            "Delete the Braze profiles of customers that disappeared from every source (after the "
            "grace period) and of customers named in the deletion source."
        ),
    )
    grace_days: float = Field(
        30,
        ge=0,
        description="Days a customer must have been gone from every source before its profile is deleted.",
    )
    max_per_run: int = Field(
        1000, ge=0, description="Most profiles one run deletes; the rest wait for the next run."
    )
    source_table: str | None = Field(
        None,
        description=(
            "Warehouse table or view of privacy deletion requests; its customers are deleted at once "
            "(no grace period) and never sent again."
        ),
    )
    source_customer_id_column: str = Field(
        "customer_id", description="Column of source_table holding the customer id."
    )


class OrderEventsConfig(StrictModel):
    """Orders from the transaction sources sent once each through /users/track."""

    enabled: bool = Field(False, description="Send orders to Braze.")
    format: Literal["ecommerce", "purchase"] = Field(
        "ecommerce",
        description=(
            "ecommerce: Braze's recommended events ecommerce.order_placed / order_refunded / "
            "order_cancelled; purchase: the legacy purchase object (in maintenance mode at Braze)."
        ),
    )
    transactions: list[str] | None = Field(
        None, description="Transaction source names to send; null sends all of them."
    )
    currency: str = Field("USD", description="ISO 4217 currency of the order amounts.")
    status_column: str | None = Field(
        None,
        description=(
            "Column of the transaction file with the order status: rows whose status is 'refunded' "
            "or 'cancelled' are also sent as ecommerce.order_refunded / order_cancelled."
        ),
    )
    source: str = Field("warehouse", description="The eCommerce events' `source` property.")
    lookback_days: int | None = Field(
        30,
        ge=1,
        description="Only orders placed this many days before the run or later are sent; null sends all.",
    )
    max_per_run: int | None = Field(
        None, ge=1, description="Most order events one run sends; the rest wait for the next run."
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError(f"currency {value!r} must be a three-letter ISO 4217 code such as USD")
        return value


class SubscriptionGroupConfig(StrictModel):
    """One Braze subscription group whose state a column of the consent authority holds."""

    group_id: str = Field(
        min_length=1, max_length=255, description="The Braze subscription group id."
    )
    column: str = Field(
        min_length=1,
        description=(
            "Column of the consent authority source: true / yes / 1 / subscribed / opted_in "
            "subscribes, false / no / 0 / unsubscribed unsubscribes, empty leaves the state alone."
        ),
    )


class ConsentConfig(StrictModel):
    """Email / push subscription states and subscription groups: off unless declared here."""

    authority: str | None = Field(
        None,
        description=(
            "Name of the customer source declared as the consent authority; subscription states "
            "are sent only from it. null (the default) sends no consent at all."
        ),
    )
    subscription_groups: list[SubscriptionGroupConfig] = Field(
        default_factory=list,
        description=(
            "Subscription groups set from columns of the authority source (none by default); "
            "sent in /users/track attribute objects, never billed. An unsubscribe is never "
            "overwritten by a subscribe the authority recorded (updated_at) before it."
        ),
    )


class AliasConfig(StrictModel):
    """Alias profiles for customers without the destination's external id."""

    enabled: bool = Field(
        False,
        description=(
            "Create a user_alias profile (alias_name = customer id) for every customer without an "
            "external id, and identify it (/users/identify) once the customer has one."
        ),
    )
    label: str = Field("customer_id", min_length=1, description="The aliases' alias_label.")
    max_per_run: int = Field(
        10_000, ge=0, description="Most aliases one run creates; the rest wait for the next run."
    )


class LifecycleConfig(StrictModel):
    merge_mode: MergeMode = Field(
        "merge",
        description=(
            "When identity merges customers whose Braze profiles exist: merge (/users/merge, the "
            "surviving id keeps the profile), leave_and_clear (the retired profile leaves every "
            "audience and its managed attributes are cleared) or off."
        ),
    )
    deletions: DeletionConfig = Field(
        default_factory=DeletionConfig,
        description="Braze profiles deleted when customers leave every source or ask to be forgotten.",
    )
    orders: OrderEventsConfig = Field(
        default_factory=OrderEventsConfig,
        description="Orders from the transaction sources, sent to Braze once each.",
    )
    aliases: AliasConfig = Field(
        default_factory=AliasConfig,
        description="Alias profiles for customers without an external id (external_id destinations).",
    )
    consent: ConsentConfig = Field(
        default_factory=ConsentConfig,
        description="Which source may change subscription states (none by default).",
    )
    retry_unknown_every_days: float = Field(
        1,
        ge=0,
        description=(
            "A value Braze rejected because the profile did not exist is tried again this often "
            "(days) instead of waiting for its value to change."
        ),
    )
    retry_unknown_for_days: float = Field(
        30,
        ge=0,
        description="Days after the first rejection during which unknown users are retried.",
    )
