"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, Garage ...), via boto3.

A blob is written as a multipart upload of ``part_bytes`` parts, sent as they fill (memory is
one part, whatever the size) and completed only by :meth:`BlobWriter.commit`: until then S3
lists nothing under the key, and an upload that fails is aborted. A blob smaller than a part
is one ``PutObject``, atomic too. Every botocore error is translated here into a
:class:`~accord.errors.BlobStoreError` naming the store and what to do.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError

from accord.blobs.store import BlobStore, BlobWriter, check_key
from accord.errors import BlobMissing, BlobStoreError, ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part but the last
MAX_PARTS = 10_000  # S3's most parts in one upload
MISSING = {"NoSuchKey", "404", "NotFound"}
CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
APPEND_TRIES = 20  # concurrent appends to one custody chain, each retried on a conflict
T = TypeVar("T")


@dataclass(frozen=True)
class S3Settings:
    """Where the store is and how to reach it (the ACCORD_BLOB_* settings)."""

    url: str  # s3://bucket/prefix
    endpoint: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO; None: AWS
    region: str = "us-east-1"
    access_key_id: str | None = None  # None: boto3's own chain (AWS_* variables, roles)
    secret_access_key: str | None = None
    part_bytes: int = 8 * 1024 * 1024
    timeout: float = 60.0
    retries: int = 3


class S3BlobStore(BlobStore):
    def __init__(self, settings: S3Settings) -> None:
        self.bucket, self.prefix = parse_url(settings.url)
        self.url = settings.url
        self.part_bytes = max(settings.part_bytes, MIN_PART_BYTES)
        self._where = f"{settings.url} ({settings.endpoint or 'AWS'})"
        config = Config(
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"max_attempts": settings.retries, "mode": "standard"},
            s3={"addressing_style": "path" if settings.endpoint else "auto"},
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=config,
        )

    def name(self, key: str) -> str:
        return f"{self.prefix}{check_key(key)}"

    def call(self, what: str, key: str, action: Callable[[], T]) -> T:
        """Run one request, translating botocore's errors (the only place that sees them)."""
        try:
            return action()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise BlobMissing(
                    f"no blob {key} in {self.url}", advice="Check the package id or URL."
                ) from exc
            if code in CONFLICT:
                raise _Changed(f"{key} changed while it was being rewritten") from exc
            raise BlobStoreError(
                f"the object store {self._where} refused to {what} {key}: {code} {exc}",
                advice="Check ACCORD_BLOB_URL, the bucket and the credentials' permissions.",
            ) from exc
        except (BotoCoreError, HTTPError, OSError) as exc:
            raise unreachable(self._where, what, key, exc) from exc

    def create(self, key: str) -> BlobWriter:
        return _Upload(self, key)

    def open(self, key: str) -> BinaryIO:
        answer = self.call(
            "read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self.name(key))
        )
        return cast(BinaryIO, _Body(answer["Body"], self, key))

    def read(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        if length == 0:
            return b""
        span = f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))

        def get() -> bytes:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.name(key), Range=span)
            data: bytes = answer["Body"].read()
            return data

        try:
            return self.call("read", key, get)
        except BlobStoreError as exc:  # a range past the end of a shorter (or empty) blob
            if "InvalidRange" in exc.message and self.size(key) is not None:
                return b""
            raise

    def size(self, key: str) -> int | None:
        try:
            head = self.call(
                "look up",
                key,
                lambda: self.client.head_object(Bucket=self.bucket, Key=self.name(key)),
            )
        except BlobMissing:
            return None
        return int(head["ContentLength"])

    def keys(self, prefix: str) -> Iterator[str]:
        start = self.name(prefix) + "/" if prefix else self.prefix
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        found: list[str] = []
        for page in self.call("list", prefix, lambda: list(pages)):
            found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return iter(sorted(found))

    def append(self, key: str, data: bytes) -> int:
        """Read, add, and write back only if nobody wrote in between (a conditional PutObject,
        RFC 9110 §13.1.1 If-Match; If-None-Match for the first write): two processes
        appending to one custody chain both get their record in, in some order."""
        for _ in range(APPEND_TRIES):
            before, etag = self._current(key)
            try:
                self._put_if(key, before + data, etag)
            except _Changed:
                continue
            return len(before)
        raise BlobStoreError(
            f"{key} kept changing under {APPEND_TRIES} attempts to append to it",
            advice="Another process is writing this package's custody chain; try again.",
        )

    def truncate(self, key: str, length: int) -> None:
        before, etag = self._current(key)
        self._put_if(key, before[:length], etag)

    def _put_if(self, key: str, body: bytes, etag: str | None) -> None:
        """Write ``key`` if it is still the version ``etag`` (None: if it does not exist)."""
        name = self.name(key)

        def put() -> object:
            if etag is None:
                return self.client.put_object(
                    Bucket=self.bucket, Key=name, Body=body, IfNoneMatch="*"
                )
            return self.client.put_object(Bucket=self.bucket, Key=name, Body=body, IfMatch=etag)

        self.call("write", key, put)

    def _current(self, key: str) -> tuple[bytes, str | None]:
        """A small blob's bytes and ETag, or nothing (and None) when there is none."""

        def get() -> tuple[bytes, str]:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.name(key))
            data: bytes = answer["Body"].read()
            return data, answer["ETag"]

        try:
            return self.call("read", key, get)
        except BlobMissing:
            return b"", None

    def delete(self, key: str) -> None:
        self.call(
            "delete",
            key,
            lambda: self.client.delete_object(Bucket=self.bucket, Key=self.name(key)),
        )


class _Changed(BlobStoreError):
    """A conditional write found the blob changed since it was read (retried)."""


class _Upload(BlobWriter):
    """A multipart upload, started with the first full part; completed only by commit."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store, self._key, self._name = store, key, store.name(key)
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload: str | None = None
        self._open = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._open:
            raise BlobStoreError(f"{self._key} is already committed or aborted")
        self._buffer += data
        while len(self._buffer) >= self._store.part_bytes:
            self._send(self._store.part_bytes)

    def _send(self, length: int) -> None:
        store, number = self._store, len(self._parts) + 1
        if number > MAX_PARTS:
            raise BlobStoreError(
                f"{self._key} is over {MAX_PARTS} parts of {store.part_bytes} bytes, the most "
                "an S3 multipart upload takes; nothing was stored",
                advice="Raise ACCORD_BLOB_PART_BYTES (up to 512 MiB), then try again.",
            )
        if self._upload is None:
            started = store.call(
                "start uploading",
                self._key,
                lambda: store.client.create_multipart_upload(Bucket=store.bucket, Key=self._name),
            )
            self._upload = started["UploadId"]
        upload, body = self._upload, bytes(memoryview(self._buffer)[:length])
        del self._buffer[:length]
        sent = store.call(
            "upload",
            self._key,
            lambda: store.client.upload_part(
                Bucket=store.bucket, Key=self._name, PartNumber=number, UploadId=upload, Body=body
            ),
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def commit(self) -> None:
        if not self._open:
            raise BlobStoreError(f"{self._key} is already committed or aborted")
        store = self._store
        if self._upload is None:  # smaller than a part: one atomic PutObject
            body = bytes(self._buffer)
            store.call(
                "write",
                self._key,
                lambda: store.client.put_object(Bucket=store.bucket, Key=self._name, Body=body),
            )
        else:
            if self._buffer:
                self._send(len(self._buffer))
            upload, parts = self._upload, self._parts
            store.call(
                "complete",
                self._key,
                lambda: store.client.complete_multipart_upload(
                    Bucket=store.bucket,
                    Key=self._name,
                    UploadId=upload,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                ),
            )
        self._open, self._buffer, self._upload = False, bytearray(), None

    def abort(self) -> None:
        self._open, self._buffer = False, bytearray()
        upload, self._upload = self._upload, None
        if upload is None:
            return
        store = self._store
        # The store may be the thing that failed: the bucket's lifecycle rule
        # AbortIncompleteMultipartUpload (docs/deployment.md) removes the parts later.
        with contextlib.suppress(BlobStoreError):
            store.call(
                "abort",
                self._key,
                lambda: store.client.abort_multipart_upload(
                    Bucket=store.bucket, Key=self._name, UploadId=upload
                ),
            )


class _Body(io.RawIOBase):
    """An object's body as a readable stream; each ``readinto`` fills the buffer whole."""

    def __init__(self, body: Any, store: S3BlobStore, key: str) -> None:
        self._body, self._store, self._key = body, store, key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            piece: bytes = self._store.call(
                "read", self._key, partial(self._body.read, len(view) - filled)
            )
            if not piece:
                break
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        return filled

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            self._body.close()
        super().close()


def parse_url(url: str) -> tuple[str, str]:
    """The bucket and the key prefix (ending with ``/``, or empty) of ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"ACCORD_BLOB_URL {url!r} is not s3://bucket or s3://bucket/prefix",
            advice="Name the bucket (and optionally a key prefix), e.g. s3://accord/node-1.",
        )
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def unreachable(where: str, what: str, key: str, exc: Exception) -> BlobStoreError:
    return BlobStoreError(
        f"cannot {what} {key}: the object store {where} is unreachable or failed ({exc}); "
        "nothing incomplete was kept",
        advice="Check that the object store is running and ACCORD_BLOB_ENDPOINT is right, "
        "then try again.",
    )
