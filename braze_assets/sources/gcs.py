"""Source files in Google Cloud Storage: list a gs:// path or glob, download, read locally.

Read through google-cloud-storage rather than DuckDB's httpfs extension, for the reason given in
s3.py (no extension package for the pinned DuckDB). The client takes its usual settings from the
environment: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, the
metadata server), GOOGLE_CLOUD_PROJECT, and STORAGE_EMULATOR_HOST for a local GCS-compatible server
(the tests use gcp-storage-emulator this way; the client then sends no credentials).

Objects are downloaded into a temporary directory and read by the same DuckDB readers as local
files, so a GCS source loads exactly like the same files on disk or in S3.
"""

from __future__ import annotations

import os
from pathlib import Path

from braze_assets.sources.load import SourceError, StagedFile
from braze_assets.sources.s3 import ObjectPath
from braze_assets.sources.secrets import brief

# An unreachable endpoint stops the run in seconds, not after the client's two minutes of retries.
TIMEOUT_S = 10
RETRY_DEADLINE_S = 15


def client(source: str):
    from google.cloud import storage

    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    try:
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            # The emulator needs a project name but no credentials.
            return storage.Client(project=project or "local")
        return storage.Client(project=project)
    except Exception as exc:  # google.auth raises several types for missing or broken keys
        raise SourceError(
            f"source {source!r}: cannot set up Google Cloud Storage credentials: {brief(exc)}"
        ) from None


def _retry():
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(RETRY_DEADLINE_S)


def list_keys(gcs, source: str, url: str) -> list[str]:
    """The object names a path or glob names, sorted; an error naming the source when none."""
    path = ObjectPath.parse(url)
    try:
        blobs = gcs.list_blobs(path.bucket, prefix=path.prefix, timeout=TIMEOUT_S, retry=_retry())
        keys = [blob.name for blob in blobs if path.matches(blob.name)]
    except Exception as exc:  # google.api_core / requests / auth errors
        raise SourceError(f"source {source!r}: cannot list {url}: {brief(exc)}") from None
    if not keys:
        raise SourceError(f"source {source!r}: no object matches {url}")
    return sorted(keys)


def download(source: str, url: str, dest: Path, gcs=None) -> list[StagedFile]:
    """Download every object `url` names into `dest`, keeping each object's gs:// URL as origin."""
    gcs = gcs or client(source)
    path = ObjectPath.parse(url)
    bucket = gcs.bucket(path.bucket)
    staged = []
    for n, key in enumerate(list_keys(gcs, source, url)):
        local = dest / f"{n:06d}_{Path(key).name}"
        try:
            bucket.blob(key).download_to_filename(str(local), timeout=TIMEOUT_S, retry=_retry())
        except Exception as exc:
            raise SourceError(
                f"source {source!r}: cannot read {path.url(key)}: {brief(exc)}"
            ) from None
        staged.append(StagedFile(local, path.url(key)))
    return staged
