"""The Currents bucket: incremental listing and reads over any boto3 S3 client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int
    last_modified: datetime | None = None


@dataclass(frozen=True)
class FetchedObject:
    key: str
    etag: str
    size: int
    data: bytes


class CurrentsBucket:
    def __init__(self, s3_client, bucket: str, prefix: str = ""):
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")

    def __repr__(self) -> str:
        return f"CurrentsBucket(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def list_new(
        self, start_after: str | None, max_keys: int = 1000, prefix: str | None = None
    ) -> list[S3Object]:
        """One page of objects under the prefix whose key sorts after `start_after`."""
        return self._page(start_after, max_keys, prefix)[0]

    def iter_objects(
        self, prefix: str | None = None, start_after: str | None = None
    ) -> Iterator[S3Object]:
        """Every object under `prefix` (default: the bucket prefix) after `start_after`, page by page."""
        while True:
            page, truncated = self._page(start_after, 1000, prefix)
            yield from page
            if not truncated or not page:
                return
            start_after = page[-1].key

    def _page(
        self, start_after: str | None, max_keys: int, prefix: str | None
    ) -> tuple[list[S3Object], bool]:
        request = {
            "Bucket": self.bucket,
            "Prefix": self.prefix if prefix is None else prefix,
            "MaxKeys": max_keys,
        }
        if start_after:
            request["StartAfter"] = start_after
        response = self._call("list_objects_v2", request["Prefix"], **request)
        objects = [
            S3Object(
                key=o["Key"],
                etag=o["ETag"].strip('"'),
                size=o["Size"],
                last_modified=o.get("LastModified"),
            )
            for o in response.get("Contents", [])
        ]
        return objects, bool(response.get("IsTruncated"))

    def list_folders(self, prefix: str) -> list[str]:
        """Immediate sub-folders (common prefixes, with trailing slash) of `prefix`."""
        folders: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        except ClientError as error:
            raise self._error(error, prefix) from None
        return folders

    def fetch(self, key: str, if_none_match: str | None = None) -> FetchedObject | None:
        """Read an object; None when `if_none_match` is its current ETag (unchanged since)."""
        request = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            request["IfNoneMatch"] = f'"{if_none_match}"'
        try:
            response = self.s3.get_object(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("304", "NotModified"):
                return None
            raise self._error(error, key) from None
        data = response["Body"].read()
        return FetchedObject(key=key, etag=response["ETag"].strip('"'), size=len(data), data=data)

    def read(self, key: str) -> bytes:
        fetched = self.fetch(key)
        assert fetched is not None
        return fetched.data

    def _call(self, operation: str, what: str, **request):
        try:
            return getattr(self.s3, operation)(**request)
        except ClientError as error:
            raise self._error(error, what) from None

    def _error(self, error: ClientError, what: str) -> OSError:
        code = error.response.get("Error", {}).get("Code", "error")
        return OSError(
            f"S3 {code} for s3://{self.bucket}/{what}: {error.response.get('Error', {}).get('Message', '')}"
        )
