"""What a build of braze_customer_attributes produced, in a form the UI and tests can read."""

from __future__ import annotations

from dataclasses import dataclass, field

from braze_assets.attributes.config import DestinationConfig
from braze_assets.attributes.fields import STANDARD_FIELDS, is_billable


@dataclass
class AttributesReport:
    rows: dict[str, int] = field(default_factory=dict)  # destination -> profiles written
    without_identifier: dict[str, int] = field(
        default_factory=dict
    )  # destination -> profiles not sendable
    duplicate_identifiers: dict[str, int] = field(
        default_factory=dict
    )  # destination -> profiles held back
    attributes: list[dict] = field(
        default_factory=list
    )  # destination, attribute, type, values, nulls, invalid
    rejections: list[dict] = field(default_factory=list)  # destination, attribute, reason, count
    sample_payload: str | None = None  # one /users/track attributes object, as sent
    filled_columns: list[str] = field(
        default_factory=list
    )  # catalogue columns missing from real tables
    parsed_values: int = (
        0  # distinct values parsed this build; the rest came from the value-check cache
    )

    @property
    def total_rejections(self) -> int:
        return sum(r["count"] for r in self.rejections)


def mapping_markdown(destination: DestinationConfig) -> str:
    """The destination's mapping as a markdown table (for the asset's UI metadata)."""
    ident = ", ".join(f"{k} <- `{v}`" for k, v in destination.identifier_columns.items())
    lines = [
        f"**{destination.name}**: identifier {destination.identifier} ({ident}); "
        f"update existing only: {str(destination.update_existing_only).lower()}",
        "",
        "| attribute | kind | source | type | transform | nulls | scope | billable |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in destination.attributes:
        source = f"`{m.column}`" if m.column else f"`{m.sql}`".replace("|", "\\|")
        transform = ""
        if m.transform and m.transform.round:
            r = m.transform.round
            transform = (
                f"round {r.digits} digits" if r.digits is not None else f"round to step {r.step}"
            )
        elif m.transform and m.transform.bucket:
            b = m.transform.bucket
            transform = "bucket " + " / ".join(
                f"{label}" + (f" < {b.thresholds[i]}" if i < len(b.thresholds) else "")
                for i, label in enumerate(b.labels)
            )
        kind = "standard" if m.name in STANDARD_FIELDS else "custom"
        lines.append(
            f"| {m.name} | {kind} | {source} | {m.type} | {transform} | {m.nulls} | {m.scope} | "
            f"{'yes' if is_billable(m.name) else 'no'} |"
        )
    return "\n".join(lines)
