"""The one registry of warehouse table names shared across domains (each is also its asset's name).

Cores and the Dagster layer import these instead of repeating the names; a test
(foundation/test_names_registry.py) fails when one of them appears as a quoted literal elsewhere.
Kept free of imports so any module can use it without an import cycle.
"""

from __future__ import annotations

# identity
UNIFIED_COALESCED = "unified_coalesced"
# customer 360
CUSTOMER_360 = "customer_360"
TRANSACTION_ATTRIBUTES = "transaction_attributes"
# Currents and engagement
CURRENTS_EVENTS = "currents_events"
ENGAGEMENT_ATTRIBUTES = "engagement_attributes"
# attributes
BRAZE_CUSTOMER_ATTRIBUTES = "braze_customer_attributes"
# audiences: the asset campaign_audiences writes the tables audience_members and
# campaign_member_attributes; campaign_recipients is both an asset and a table.
CAMPAIGN_AUDIENCES = "campaign_audiences"
AUDIENCE_MEMBERS = "audience_members"
CAMPAIGN_MEMBER_ATTRIBUTES = "campaign_member_attributes"
CAMPAIGN_RECIPIENTS = "campaign_recipients"
# sync
ATTRIBUTE_SNAPSHOTS = "attribute_snapshots"

# The customer_360 asset group is named after its main table.
CUSTOMER_360_GROUP = CUSTOMER_360

SHARED = (
    UNIFIED_COALESCED,
    CUSTOMER_360,
    TRANSACTION_ATTRIBUTES,
    CURRENTS_EVENTS,
    ENGAGEMENT_ATTRIBUTES,
    BRAZE_CUSTOMER_ATTRIBUTES,
    CAMPAIGN_AUDIENCES,
    AUDIENCE_MEMBERS,
    CAMPAIGN_MEMBER_ATTRIBUTES,
    CAMPAIGN_RECIPIENTS,
    ATTRIBUTE_SNAPSHOTS,
)
