"""STIX objects for the intel tests, made the same way every time."""

from __future__ import annotations

import json
import uuid
from typing import Any

from accord.intel.markings import TLP2_IDS, Tlp, participant_identity, tlp_definition

NS = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")
T = "2026-11-24T09:00:00.000Z"


def indicator(
    n: int, *, tlp: Tlp | None = Tlp.GREEN, by: str | None = None, **extra: Any
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(NS, str(n))}",
        "created": T,
        "modified": T,
        "name": f"Fraud shop host {n}",
        "pattern": f"[ipv4-addr:value = '198.51.{n // 256 % 256}.{n % 256}']",
        "pattern_type": "stix",
        "valid_from": T,
        "labels": ["online-fraud"],
    }
    if tlp is not None:
        value["object_marking_refs"] = [TLP2_IDS[tlp]]
    if by is not None:
        value["created_by_ref"] = participant_identity(by)
    value.update(extra)
    return value


def bundle(objects: list[dict[str, Any]], *, with_definitions: bool = True) -> bytes:
    extra = [tlp_definition(level) for level in Tlp] if with_definitions else []
    return json.dumps(
        {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid4()}",
            "objects": objects + extra,
        }
    ).encode()


def envelope(objects: list[dict[str, Any]]) -> bytes:
    return json.dumps({"objects": objects}).encode()
