"""Each request is judged under the States Parties registry its node held when the request was
made or received (ADR 0009): a registry the stewards publish later, with a State's dates or
reservations changed, applies to new requests and does not refold the old ones."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from sqlalchemy import Connection, insert, select

from accord.db.schema import registries
from accord.identity.registry import Registry


def pin(connection: Connection, registry: Registry) -> str:
    """Keep ``registry`` (once) and return the digest a request row names it by."""
    body = registry.model_dump_json()
    digest = hashlib.sha256(body.encode()).hexdigest()
    known = select(registries.c.sha256).where(registries.c.sha256 == digest)
    if connection.execute(known).first() is None:
        connection.execute(
            insert(registries).values(sha256=digest, version=registry.version, body=body)
        )
    return digest


def pinned(connection: Connection, digest: str) -> Registry:
    """The registry a request row was pinned to."""
    body = connection.execute(
        select(registries.c.body).where(registries.c.sha256 == digest)
    ).scalar_one()
    return _parse(body)


@lru_cache(maxsize=16)
def _parse(body: str) -> Registry:  # registries never change once kept: parse each once
    return Registry.model_validate_json(body)
