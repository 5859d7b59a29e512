"""Start the local Braze sandbox and the local S3 endpoint unless the user points elsewhere.

When BRAZE_REST_ENDPOINT (with BRAZE_API_KEY) or CURRENTS_S3_BUCKET are set, nothing local is
started for that side and the real endpoint is used as configured.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from braze_assets import settings
from braze_assets.cli.demo_extra import demo_module
from braze_assets.cli.errors import UserFacingError

DEMO_BUCKET = "braze-currents-demo"
DEMO_PREFIX = "currents"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Services:
    braze_endpoint: str
    braze_is_local: bool
    bucket: str
    prefix: str
    s3_is_local: bool
    sandbox: object | None = None
    s3: object | None = None
    notes: list[str] = field(default_factory=list)


def check_reachable(endpoint: str, timeout_s: float = 5.0) -> None:
    """Fail before any run starts when the configured Braze endpoint does not accept connections."""
    parsed = urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserFacingError(
            f"Braze endpoint {endpoint!r} is not an http(s) URL ({settings.ENV_BRAZE_REST_ENDPOINT})"
        )
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserFacingError(
            f"Braze endpoint {endpoint} is unreachable ({reason}); check {settings.ENV_BRAZE_REST_ENDPOINT} / "
            f"{settings.ENV_BRAZE_INSTANCE} and your network"
        ) from None


@contextmanager
def local_services(
    data_dir: Path, *, sandbox_port: int = 0, s3_port: int = 0
) -> Iterator[Services]:
    with ExitStack() as stack:
        endpoint = os.environ.get(settings.ENV_BRAZE_REST_ENDPOINT)
        sandbox = None
        if endpoint:
            if not os.environ.get(settings.ENV_BRAZE_API_KEY):
                raise UserFacingError(
                    f"{settings.ENV_BRAZE_REST_ENDPOINT} is set but {settings.ENV_BRAZE_API_KEY} is not"
                )
        elif os.environ.get(settings.ENV_BRAZE_INSTANCE):
            if not os.environ.get(settings.ENV_BRAZE_API_KEY):
                raise UserFacingError(
                    f"{settings.ENV_BRAZE_INSTANCE} is set but {settings.ENV_BRAZE_API_KEY} is not"
                )
            from braze_assets.braze.instances import resolve_endpoint

            endpoint = resolve_endpoint(os.environ[settings.ENV_BRAZE_INSTANCE], None)
        if endpoint:
            check_reachable(endpoint)
        if not endpoint:
            demo_sandbox = demo_module(
                "braze_assets.sandbox",
                f"the local Braze sandbox (used when {settings.ENV_BRAZE_REST_ENDPOINT} is not set)",
            )
            sandbox = stack.enter_context(
                demo_sandbox.SandboxServer(data_dir / "braze_sandbox", port=sandbox_port)
            )
            endpoint = sandbox.url
            os.environ.update(
                {
                    settings.ENV_BRAZE_REST_ENDPOINT: endpoint,
                    settings.ENV_BRAZE_API_KEY: demo_sandbox.SANDBOX_API_KEY,
                }
            )

        bucket = os.environ.get(settings.ENV_CURRENTS_BUCKET)
        s3 = None
        if bucket:
            prefix = os.environ.get(settings.ENV_CURRENTS_PREFIX, "")
        else:
            local_s3 = demo_module(
                "braze_assets.currents.local_s3",
                f"the local S3 endpoint (used when {settings.ENV_CURRENTS_BUCKET} is not set)",
            )
            s3 = stack.enter_context(local_s3.LocalS3(port=s3_port))
            bucket, prefix = DEMO_BUCKET, DEMO_PREFIX
            os.environ.update(
                {
                    **LOCAL_AWS,
                    "AWS_ENDPOINT_URL": s3.endpoint_url,
                    settings.ENV_CURRENTS_BUCKET: bucket,
                    settings.ENV_CURRENTS_PREFIX: prefix,
                }
            )
        yield Services(endpoint, sandbox is not None, bucket, prefix, s3 is not None, sandbox, s3)
