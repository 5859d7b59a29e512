"""The one rule for names users give things in config (sources, destinations, audiences, campaigns).

Kept free of other braze_assets imports so every config model can use it without an import cycle.
"""

from __future__ import annotations

import re

# Source column tags: `identifier:<name>` marks any other id (e.g. a CRM id) usable for
# deterministic matching; `attribute` keeps a non-identity column available to the customer 360.
CUSTOM_IDENTIFIER_PREFIX = "identifier:"
ATTRIBUTE_TAG = "attribute"

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"{what} {value!r} must be lowercase letters, digits and _ (starting with a letter)"
        )
    return value
