"""Braze instance names -> REST endpoints (see Braze's "API overview": instances and endpoints)."""

from __future__ import annotations

INSTANCES: dict[str, str] = {
    **{f"US-0{n}": f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "https://rest.us-10.braze.com",
    "EU-01": "https://rest.fra-01.braze.eu",
    "EU-02": "https://rest.fra-02.braze.eu",
    "AU-01": "https://rest.au-01.braze.com",
    "ID-01": "https://rest.id-01.braze.com",
    "JP-01": "https://rest.jp-01.braze.com",
    "KR-01": "https://rest.kr-01.braze.com",
}


def _normalise_instance(instance: str) -> str:
    # Users copy "us-03", "US03" or "US 03" from dashboards and tickets; all mean US-03.
    text = instance.strip().upper().replace("_", "-").replace(" ", "-")
    if "-" not in text and len(text) > 2:
        text = f"{text[:2]}-{text[2:]}"
    return text


def resolve_endpoint(instance: str | None, endpoint: str | None) -> str:
    """Return the REST endpoint: an explicit ``endpoint`` wins over ``instance``."""
    if endpoint is not None and endpoint.strip():
        url = endpoint.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"Braze REST endpoint {endpoint!r} must start with https:// "
                "(for example https://rest.iad-03.braze.com)"
            )
        return url
    if instance is None or not instance.strip():
        raise ValueError(
            "No Braze instance or REST endpoint configured: set the instance (for example US-03) "
            "or the REST endpoint (BRAZE_REST_ENDPOINT)"
        )
    key = _normalise_instance(instance)
    if key not in INSTANCES:
        valid = ", ".join(INSTANCES)
        raise ValueError(f"Unknown Braze instance {instance!r}; valid instances: {valid}")
    return INSTANCES[key]


def instance_for_endpoint(endpoint: str) -> str | None:
    """The documented instance name of ``endpoint``, or None for sandboxes and custom URLs."""
    url = endpoint.rstrip("/")
    for name, known in INSTANCES.items():
        if known == url:
            return name
    return None
