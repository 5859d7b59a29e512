"""Source files in S3 (or any S3-compatible store): list a path or glob, download, read locally.

Read through boto3 rather than DuckDB's httpfs extension: the `duckdb-extension-httpfs` packages stop
at DuckDB 1.5.5 and the pinned DuckDB 1.5.6 refuses an extension built for another version, and
nothing may be downloaded at run time. boto3 honours AWS_ENDPOINT_URL, AWS_REGION and the usual
credential chain, so any S3-compatible endpoint (the tests use the local moto server) can be read.

Objects are downloaded into a temporary directory and read by the same DuckDB readers as local
files, so an S3 source loads exactly like the same files on disk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from braze_assets.sources.load import WILDCARDS, SourceError, StagedFile, is_glob
from braze_assets.sources.secrets import redact

# Short timeouts and few retries: an unreachable endpoint should stop the run with a message in
# seconds, not after botocore's default minutes of backoff.
CLIENT_CONFIG = Config(
    connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass(frozen=True)
class ObjectPath:
    """An object-store URL (s3://bucket/key, gs://bucket/key); the key may hold wildcards."""

    scheme: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> ObjectPath:
        scheme, _, rest = url.partition("://")
        bucket, _, key = rest.partition("/")
        return cls(scheme, bucket, key)

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    @property
    def prefix(self) -> str:
        """The key up to its first wildcard: what to list."""
        cuts = [self.key.find(c) for c in WILDCARDS if c in self.key]
        return self.key[: min(cuts)] if cuts else self.key

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return glob_regex(self.key) if is_glob(self.key) else None

    def matches(self, key: str) -> bool:
        """Whether a listed object `key` is one this path names (folder markers never are)."""
        if key.endswith("/"):
            return False
        return self._pattern.match(key) is not None if self._pattern else key == self.key


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client():
    # A new session per load: boto3's default session keeps the credentials it first resolved, so
    # a long-lived process (a code server) would miss a rotated or corrected key.
    return boto3.session.Session().client("s3", region_name=region(), config=CLIENT_CONFIG)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one path segment, `**` crosses segments, `[...]` is a class."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                # `a/**/b` also matches `a/b`.
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(c))
            else:
                out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _problem(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        return f"{code}: {message}".rstrip(": ") if message else str(code)
    return str(exc)


def _redact(text: str) -> str:
    return redact(text)


def list_keys(s3, source: str, url: str) -> list[str]:
    """The keys a path or glob names, sorted; an error naming the source when there are none."""
    path = ObjectPath.parse(url)
    keys: list[str] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=path.bucket, Prefix=path.prefix)
        for page in pages:
            keys += [obj["Key"] for obj in page.get("Contents", []) if path.matches(obj["Key"])]
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(
            f"source {source!r}: cannot list {url}: {_redact(_problem(exc))}"
        ) from None
    if not keys:
        raise SourceError(f"source {source!r}: no object matches {url}")
    return sorted(keys)


def download(source: str, url: str, dest: Path, s3=None) -> list[StagedFile]:
    """Download every object `url` names into `dest`, keeping each object's s3:// URL as origin."""
    s3 = s3 or client()
    path = ObjectPath.parse(url)
    staged = []
    for n, key in enumerate(list_keys(s3, source, url)):
        # Numbered names keep the listing order and the suffix the readers may need.
        local = dest / f"{n:06d}_{Path(key).name}"
        try:
            s3.download_file(path.bucket, key, str(local))
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(
                f"source {source!r}: cannot read {path.url(key)}: {_redact(_problem(exc))}"
            ) from None
        staged.append(StagedFile(local, path.url(key)))
    return staged
