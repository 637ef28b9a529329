"""Blob storage behind one interface (ADR 0022): a local folder, or an S3-compatible store.

``ACCORD_BLOB_URL`` picks it: unset, blobs stay in the node folder as they always have;
``s3://bucket/prefix`` puts them in an object store reached with the ACCORD_BLOB_* settings.
"""

from __future__ import annotations

from pathlib import Path

from accord.blobs.local import LocalBlobStore
from accord.blobs.s3 import S3BlobStore, S3Settings
from accord.blobs.store import BlobStore, BlobWriter
from accord.config import Settings

__all__ = ["BlobStore", "BlobWriter", "LocalBlobStore", "S3BlobStore", "open_store"]


def open_store(settings: Settings, home: Path) -> BlobStore:
    """The store the settings name; by default the node folder ``home`` itself."""
    if settings.blob_url is None:
        return LocalBlobStore(home)
    secret = settings.blob_secret_access_key
    return S3BlobStore(
        S3Settings(
            url=settings.blob_url,
            endpoint=settings.blob_endpoint,
            region=settings.blob_region,
            access_key_id=settings.blob_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            part_bytes=settings.blob_part_bytes,
            timeout=settings.blob_timeout,
        )
    )
