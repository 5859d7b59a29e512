"""Dagster resource around the plain Braze client."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from braze_assets import settings
from braze_assets.braze.client import BrazeClient
from braze_assets.braze.instances import resolve_endpoint


class BrazeResource(dg.ConfigurableResource):
    """Braze REST settings; set ``api_key=dg.EnvVar("BRAZE_API_KEY")`` so the key stays out of the UI."""

    api_key: str = Field(
        repr=False, description="REST API key with users.track (and users.export.ids)"
    )
    instance: str | None = Field(default=None, description="Braze instance, e.g. US-03")
    rest_endpoint: str | None = Field(
        default=None, description="Explicit REST endpoint; wins over instance"
    )
    objects_per_request: int = Field(
        default=75, description="75 on data-point plans, 50 on some plans"
    )
    rate_limit_requests: int = Field(default=3000, description="/users/track requests per window")
    rate_limit_period_s: float = Field(default=3.0, description="Length of Braze's fixed window")
    concurrency: int = Field(
        default=8, description="Parallel requests over pooled keep-alive connections"
    )
    retry_budget_s: float = Field(
        default=300.0,
        description="Give up retrying a batch after this many seconds (env BRAZE_RETRY_BUDGET_S)",
    )
    timeout_s: float = Field(
        default=30.0,
        description="Seconds to wait for one request's answer (env BRAZE_TIMEOUT_S)",
    )

    def __repr__(self) -> str:
        where = self.rest_endpoint or self.instance or "unconfigured"
        return f"BrazeResource({where}, {self.objects_per_request} objects/request)"

    __str__ = __repr__

    def endpoint(self) -> str:
        return resolve_endpoint(self.instance, self.rest_endpoint)

    def get_client(self, logger=None) -> BrazeClient:
        endpoint = self.endpoint()
        label = self.instance.strip().upper() if self.instance and not self.rest_endpoint else None
        return BrazeClient(
            self.api_key,
            endpoint,
            objects_per_request=self.objects_per_request,
            rate_limit_requests=self.rate_limit_requests,
            rate_limit_period_s=self.rate_limit_period_s,
            concurrency=self.concurrency,
            retry_budget_s=self.retry_budget_s,
            timeout_s=self.timeout_s,
            instance_label=label,
            logger=logger,
        )


def braze_resource_from_env() -> BrazeResource:
    """The resource as deployed: key from BRAZE_API_KEY (EnvVar, so never shown), instance from
    BRAZE_INSTANCE or endpoint from BRAZE_REST_ENDPOINT (the sandbox sets the latter), request
    timeout from BRAZE_TIMEOUT_S and retry budget from BRAZE_RETRY_BUDGET_S."""
    return BrazeResource(
        api_key=dg.EnvVar(settings.ENV_BRAZE_API_KEY),
        instance=os.environ.get(settings.ENV_BRAZE_INSTANCE) or None,
        rest_endpoint=os.environ.get(settings.ENV_BRAZE_REST_ENDPOINT) or None,
        timeout_s=settings.seconds_from_env(settings.ENV_BRAZE_TIMEOUT_S, 30.0),
        retry_budget_s=settings.seconds_from_env(
            settings.ENV_BRAZE_RETRY_BUDGET_S, 300.0, allow_zero=True
        ),
    )
