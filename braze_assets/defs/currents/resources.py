"""The Currents bucket as a Dagster resource: dagster-aws's S3 resource plus bucket and prefix."""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from braze_assets import settings
from braze_assets.currents.s3 import CurrentsBucket

CURRENTS_S3_KEY = "currents_s3"


class CurrentsS3Resource(S3Resource):
    """Where Braze writes Currents. Unset S3 settings fall back to boto3's standard AWS variables
    (AWS_ENDPOINT_URL, AWS_REGION, credentials chain), so any S3-compatible store works."""

    bucket: str = Field(description="Bucket Braze Currents writes to")
    prefix: str = Field(default="", description="Prefix given to Braze in the Currents connector")

    def currents_bucket(self) -> CurrentsBucket:
        return CurrentsBucket(self.get_client(), self.bucket, self.prefix)


def currents_s3_resource_from_env() -> CurrentsS3Resource:
    # The prefix is optional; dg.EnvVar on an unset variable would fail every run that uses it.
    prefix = (
        dg.EnvVar(settings.ENV_CURRENTS_PREFIX)
        if os.environ.get(settings.ENV_CURRENTS_PREFIX)
        else ""
    )
    return CurrentsS3Resource(bucket=dg.EnvVar(settings.ENV_CURRENTS_BUCKET), prefix=prefix)
