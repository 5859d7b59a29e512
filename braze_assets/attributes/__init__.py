"""Braze customer attributes: the declarative mapping (config section `destinations`), types,
serialisation to Braze JSON, per-row validation, the braze_customer_attributes builder and the
data-point cost insight. Plain Python; the Dagster wiring lives in braze_assets/defs/attributes/.
"""

from braze_assets.attributes.builder import (
    ATTRIBUTES_TABLE,
    REJECTIONS_TABLE,
    SOURCE_VIEW,
    AttributeBuildError,
    build_attribute_source_view,
    build_braze_customer_attributes,
)
from braze_assets.attributes.config import (
    AttributeMapping,
    DestinationConfig,
    carried_columns,
    check_destinations,
)
from braze_assets.attributes.cost import attribute_change_cost
from braze_assets.attributes.report import AttributesReport, mapping_markdown
from braze_assets.attributes.serialise import (
    canonical_json,
    identifier_object,
    is_billable,
    payload_json,
)

__all__ = [
    "ATTRIBUTES_TABLE",
    "REJECTIONS_TABLE",
    "SOURCE_VIEW",
    "AttributeBuildError",
    "AttributeMapping",
    "AttributesReport",
    "DestinationConfig",
    "attribute_change_cost",
    "build_attribute_source_view",
    "build_braze_customer_attributes",
    "canonical_json",
    "carried_columns",
    "check_destinations",
    "identifier_object",
    "is_billable",
    "mapping_markdown",
    "payload_json",
]
