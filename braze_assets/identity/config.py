"""The `identity` config section: how records are standardised, matched, clustered and merged.

Every field has a default that works on any source declared with the usual person tags, so a new
dataset needs no identity section at all; the demo's `identity.yaml` only spells the defaults out.
Field names used below are the columns of `unified_standardised` (the semantic tags, plus
`given_name_canonical` and `identifier_<name>` for `identifier:<name>` tags).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from braze_assets.strict import StrictModel

ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "state", "postal_code", "country")


_Strict = StrictModel


def _values(text: str) -> list[str]:
    """A default list written as comma-separated text: one value per line made these lists pages long."""
    return [v.strip() for v in text.split(",")]


class JunkValues(_Strict):
    """Placeholder values people type when a form insists; they mean 'missing', never a match key."""

    any_field: list[str] = Field(
        default_factory=lambda: _values(
            "unknown, unk, n/a, na, none, null, nil, test, testing, xxx, xx, x, -, --, ., ?, 0, tbd, "
            "not provided, no name, asdf, noname, customer, cash customer, guest, anonymous"
        ),
        description="Values (compared case-insensitively after trimming) treated as missing in every field.",
    )
    emails: list[str] = Field(
        default_factory=lambda: ["test@test.com", "a@a.com", "email@email.com", "no@email.com"],
        description="Whole email addresses treated as missing.",
    )
    email_local_parts: list[str] = Field(
        default_factory=lambda: _values(
            "test, noemail, no-email, none, na, unknown, noreply, no-reply, donotreply, nobody, "
            "null, asdf, email, x, xx"
        ),
        description="Email user names (before @, after +tag stripping) that mark an address as a placeholder.",
    )
    email_domains: list[str] = Field(
        default_factory=lambda: _values(
            "example.com, example.org, test.com, email.com, noemail.com, none.com"
        ),
        description="Email domains that mark an address as a placeholder.",
    )
    phone_digits: list[str] = Field(
        default_factory=lambda: ["1234567890", "0123456789", "5555555555", "8005551212"],
        description="National phone digits treated as missing; numbers of one repeated digit are always junk.",
    )
    birthdates: list[str] = Field(
        default_factory=lambda: ["1900-01-01", "1901-01-01", "1970-01-01", "2000-01-01"],
        description="Default dates systems fill in when the birthdate is unknown (ISO form).",
    )


class ComparisonConfig(_Strict):
    """One Splink comparison over a standardised field."""

    field: str = Field(description="Column of unified_standardised to compare.")
    method: Literal[
        "name",
        "email",
        "address",
        "location",
        "exact",
        "identifier",
        "levenshtein",
        "jaro_winkler",
        "date",
        "date_typos",
    ] = Field(
        description=(
            "name: exact, nickname match (given_name only), Jaro-Winkler levels; "
            "email: exact, Levenshtein <= 2 (typo), else; exact; levenshtein / jaro_winkler at `thresholds`; "
            "identifier: exact, Damerau-Levenshtein 1 and 2 (an id with one typo is still strong evidence); "
            "date: Splink's date-of-birth comparison; date_typos: exact, one-digit typo, day/month swap, "
            "two-digit typo; address: one comparison over the street line (this field) with postal_code "
            "and city, so a shared household address counts once; location: the same with street number "
            "and postal-code typo levels."
        )
    )
    thresholds: list[float] = Field(
        default_factory=list,
        description="Distance or similarity thresholds (levenshtein / jaro_winkler / name).",
    )
    term_frequency: bool = Field(
        False, description="Adjust the exact-match level by how common the value is."
    )


class TrainingConfig(_Strict):
    """Unsupervised training of the Splink model on the data itself."""

    u_max_pairs: float = Field(
        2e6, description="Random record pairs sampled to estimate u probabilities."
    )
    seed: int = Field(
        42, description="Seed for u sampling, so a rerun on the same data gives the same model."
    )
    em_blocking_rules: list[list[str]] | None = Field(
        None,
        description=(
            "One EM session per rule; rules whose fields are all empty in the data are skipped. "
            "Unset: chosen from the data's profile (names, then each specific field that is filled)."
        ),
    )
    retrain_growth: float = Field(
        0.2,
        ge=0,
        description=(
            "Reuse the stored model until the record count moves by more than this share (or the identity "
            "config changes); 0 retrains on every run."
        ),
    )
    prior_recall: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Assumed recall of the deterministic rules when estimating the match prior from them.",
    )
    em_max_pairs: float | None = Field(
        5e5,
        gt=0,
        description=(
            "Cap on blocked pairs per EM session (sampled evenly); null uses them all. Half a "
            "million pairs of records that share a specific value hold enough matches for the m "
            "probabilities; only data of over a hundred thousand records reaches the cap."
        ),
    )


class MatchCategories(_Strict):
    """Probability floors of the score buckets shown in unified_scores ('exact' = a deterministic rule)."""

    excellent: float = Field(0.99, description="Minimum match probability for 'excellent'.")
    high: float = Field(0.95, description="Minimum match probability for 'high'.")
    moderate: float = Field(0.8, description="Minimum match probability for 'moderate'.")
    weak: float = Field(
        0.5,
        description=(
            "Minimum match probability for 'weak'; lower pairs are not kept, except a pair held "
            "apart (two people sharing an email or phone, kept so clustering refuses to chain them)."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> MatchCategories:
        if not self.excellent >= self.high >= self.moderate >= self.weak:
            raise ValueError("match categories must satisfy excellent >= high >= moderate >= weak")
        return self


class Survivorship(_Strict):
    """How the customer 360 picks one value per field from a customer's records."""

    order: Literal["priority_then_recency", "recency_then_priority"] = Field(
        "priority_then_recency",
        description="Default rule: the most trusted source wins and recency breaks ties, or the other way round.",
    )
    field_order: dict[str, Literal["priority_then_recency", "recency_then_priority"]] = Field(
        default_factory=lambda: {
            "email": "recency_then_priority",
            "phone": "recency_then_priority",
        },
        description="Per-field overrides of `order` (a group is ruled by its first field).",
    )
    groups: dict[str, list[str]] = Field(
        default_factory=lambda: {"address": list(ADDRESS_FIELDS)},
        description="Fields taken together from one record (the chosen record is the best with any of them set).",
    )
    loyalty_tier_column: str = Field(
        "tier", description="Attribute column of a loyalty-id source that holds the loyalty tier."
    )


class QualityChecks(_Strict):
    """Thresholds of the identity asset checks."""

    min_f1: float = Field(
        0.98, ge=0, le=1, description="Pairwise F1 against ground truth (when a truth file exists)."
    )
    max_share_over_3_given_names: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of customers allowed more than three distinct given names.",
    )
    max_held_back_records: int = Field(
        0, ge=0, description="Records in oversized clusters before the check fails."
    )


class IdentityConfig(_Strict):
    """Section `identity`."""

    empty_columns: Literal["error", "warn"] = Field(
        "error",
        description="A tagged column that is entirely empty or junk: fail standardisation, or only report it.",
    )
    junk: JunkValues = Field(default_factory=JunkValues, description="Values treated as missing.")
    strip_email_dots_for: list[str] = Field(
        default_factory=lambda: ["gmail.com", "googlemail.com"],
        description="Domains that ignore dots in the user name; dots are removed in the match form.",
    )
    deterministic_keys: list[str] = Field(
        default_factory=lambda: ["email", "phone", "loyalty_id", "external_id", "identifier:*"],
        description=(
            "Fields whose equal normalised value links two records outright (match_type 'deterministic:<key>'); "
            "'identifier:*' means every custom identifier."
        ),
    )
    deterministic_conflicts: list[str] = Field(
        default_factory=lambda: ["given_name_canonical", "birthdate"],
        description=(
            "A deterministic link is withheld (left to the model) when both records have one of these fields "
            "and they differ, e.g. two family members sharing one email address."
        ),
    )
    deterministic_max_group: int = Field(
        20,
        ge=2,
        description="A key value shared by more records than this is treated as a shared/placeholder value, not a link.",
    )
    separation_keys: list[str] = Field(
        default_factory=lambda: ["external_id", "loyalty_id"],
        description=(
            "Two records with different non-null values of any of these (two accounts) end up in one "
            "customer only as `separation_override` allows."
        ),
    )
    separation_override: Literal["beyond_names", "never"] = Field(
        "beyond_names",
        description=(
            "When two accounts may join (one person's second account): beyond_names, when the model "
            "links their records, directly or through a chain of such pairs (each account linked so "
            "to one loyalty record), person-level evidence included, and would still link them "
            "with the name comparisons left out, or share one name and an agreement the model weighs "
            "above a shared town (strangers share a name and a town, rarely a phone, birthdate or "
            "street address); never: the separation keys always hold apart."
        ),
    )
    person_evidence: list[str] = Field(
        default_factory=lambda: [
            "given_name",
            "birthdate",
            "identifier:*",
            "loyalty_id",
            "external_id",
        ],
        description=(
            "A probabilistic link needs agreement (a level the model weighs as evidence for a match) on "
            "at least one of these compared fields. Surname, address and shared contact details are "
            "what a household has in common; these tell its members apart. Empty: no such requirement."
        ),
    )
    blocking_rules: list[list[str]] | None = Field(
        None,
        description=(
            "Candidate pairs are records equal on all fields of at least one rule; empty fields are skipped. "
            "Unset: chosen from the data, keeping each candidate rule whose expected comparisons fit a "
            "budget (the estimates are in the unified_scores metadata)."
        ),
    )
    comparisons: list[ComparisonConfig] | None = Field(
        None,
        description=(
            "Splink comparisons; those on fields empty in every source are dropped automatically. "
            "Unset: one comparison for every tagged field filled in at least 2% of records."
        ),
    )
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="Unsupervised model training."
    )
    match_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description=(
            "Pairs at or above this match probability join one customer. Unset: chosen from the "
            "trained model's own expected precision and recall (reasoning in the run metadata)."
        ),
    )
    categories: MatchCategories = Field(
        default_factory=MatchCategories, description="Score buckets."
    )
    max_cluster_size: int = Field(
        50,
        ge=2,
        description="Clusters larger than this are flagged and held back (their records stay apart).",
    )
    survivorship: Survivorship = Field(
        default_factory=Survivorship, description="Customer 360 field choice."
    )
    checks: QualityChecks = Field(
        default_factory=QualityChecks, description="Asset check thresholds."
    )

    @model_validator(mode="after")
    def _threshold_in_scores(self) -> IdentityConfig:
        if self.match_threshold is not None and self.match_threshold < self.categories.weak:
            raise ValueError(
                f"match_threshold {self.match_threshold} is below categories.weak {self.categories.weak}; "
                "pairs below 'weak' are not kept, so they could never match"
            )
        return self
