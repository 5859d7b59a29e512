"""Keep credentials out of error messages about object stores and lakehouse tables.

The storage clients' errors are shown to users (run logs, the UI), so every such error is passed
through `redact`, which replaces the values of the credential variables the clients read, and the
private key of a Google service-account file, wherever they appear.
"""

from __future__ import annotations

import json
import os
import re

# Terminal colours some clients (delta-rs) put in their messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)


def _secrets() -> list[str]:
    found = [os.environ[name] for name in SECRET_VARIABLES if os.environ.get(name)]
    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            info = {}
        if isinstance(info, dict):
            for field in ("private_key", "client_secret", "refresh_token"):
                value = info.get(field)
                if isinstance(value, str) and value:
                    found.append(value)
                    # A PEM key may be quoted one line at a time.
                    found.extend(line for line in value.splitlines() if len(line) >= 16)
    # Short values (e.g. a local store's dummy key) would blank out ordinary words; 4+ chars only.
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def brief(exc: BaseException, lines: int = 3) -> str:
    """The first lines of an error, redacted: enough to say what failed without a traceback."""
    text = _ANSI.sub("", str(exc)).replace("↳", "")
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    return redact("; ".join(parts[:lines]) or type(exc).__name__)
