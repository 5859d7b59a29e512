"""Audiences: rule segments compiled to parameterised SQL, guarded SQL audiences, and campaigns /
orchestrations that turn them into current Braze membership, history and run counts. No Dagster here."""

from braze_assets.audiences.campaigns import (
    CampaignReport,
    build_campaign_members,
    plan_activation,
    write_activation,
)
from braze_assets.audiences.compiler import CompiledSql, compile_segment
from braze_assets.audiences.config import AudiencesConfig, check_audiences
from braze_assets.audiences.errors import AudienceError
from braze_assets.audiences.evaluate import evaluate_audience, open_read_only
from braze_assets.audiences.preview import preview_campaign
from braze_assets.audiences.sql_guard import validate_sql_audience

__all__ = [
    "AudienceError",
    "AudiencesConfig",
    "CampaignReport",
    "CompiledSql",
    "build_campaign_members",
    "check_audiences",
    "compile_segment",
    "evaluate_audience",
    "open_read_only",
    "plan_activation",
    "preview_campaign",
    "validate_sql_audience",
    "write_activation",
]
