"""MISP interoperability through ``misp-stix`` (MISP's own converter): import a MISP event as
STIX 2.1, export STIX back as a MISP event, and write a MISP feed (``manifest.json`` and one
``<uuid>.json`` per event) that a MISP instance pulls.

What misp-stix drops is kept here: the event's TLP goes on every object it produced (misp-stix
marks only the grouping, and an unmarked object reaches nobody, ADR 0014) as the TLP 2.0
marking, and the event's ``distribution`` travels in the grouping as
``x_accord_misp_distribution``. With no TLP tag, distribution decides the level; a sharing
group (4) that names nobody, or distribution 4 with no group, leaves the objects unmarked:
they reach nobody (MISP once published such an event to everyone).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.errors import FieldError, MispInvalid
from accord.intel.markings import TLP2_IDS, TLP_BY_ID, Tlp, tlp_definition

DISTRIBUTION_PROPERTY = "x_accord_misp_distribution"
# MISP distribution levels: 0 this organisation, 1 this community, 2 connected communities,
# 3 all communities, 4 a sharing group
DISTRIBUTION_TLP = {0: Tlp.AMBER_STRICT, 1: Tlp.GREEN, 2: Tlp.GREEN, 3: Tlp.CLEAR}
TLP_DISTRIBUTION = {Tlp.CLEAR: 3, Tlp.GREEN: 1, Tlp.AMBER: 0, Tlp.AMBER_STRICT: 0, Tlp.RED: 0}
MAX_EVENT_BYTES = 32 * 1024 * 1024


def _invalid(message: str) -> MispInvalid:
    return MispInvalid(
        message,
        advice="Give a MISP event in MISP's JSON format.",
        errors=[FieldError("Event", "misp_format", message)],
    )


def read_event(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_EVENT_BYTES:
        raise _invalid(f"the event is over {MAX_EVENT_BYTES} bytes")
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise _invalid(f"not JSON: {exc}") from exc
    event = value.get("Event", value) if isinstance(value, dict) else None
    if not isinstance(event, dict) or "info" not in event:
        raise _invalid("a MISP event is an object with an 'info' (optionally under 'Event')")
    return event


def event_tlp(event: Mapping[str, Any]) -> Tlp | None:
    """The event's TLP: its tlp:* tag (the strictest), else what its distribution implies."""
    levels = []
    for tag in event.get("Tag") or ():
        name = str(tag.get("name", "")) if isinstance(tag, dict) else ""
        if name.lower().startswith("tlp:"):
            try:
                levels.append(Tlp.parse(name))
            except ValueError:
                levels.append(Tlp.RED)  # a TLP tag nobody defined: the strictest reading
    if levels:
        return max(levels)
    distribution = int(event.get("distribution", 0) or 0)
    if distribution == 4:
        return Tlp.AMBER if event.get("SharingGroup", {}).get("SharingGroupOrg") else None
    return DISTRIBUTION_TLP.get(distribution)


def to_stix(data: bytes) -> bytes:
    """A MISP event as a STIX 2.1 bundle, every object marked with the event's TLP 2.0 level."""
    from misp_stix_converter import MISPtoSTIX21Parser  # noqa: PLC0415 - a heavy import

    event = read_event(data)
    parser = MISPtoSTIX21Parser()
    try:
        parser.parse_misp_event({"Event": event})
        bundle = json.loads(parser.bundle.serialize())
    except Exception as exc:
        raise _invalid(f"misp-stix could not convert it: {exc.__class__.__name__}: {exc}") from exc
    level = event_tlp(event)
    objects = [o for o in bundle["objects"] if o["id"] not in TLP_BY_ID]
    for obj in objects:
        if obj["type"] in ("marking-definition", "extension-definition"):
            continue
        refs = [r for r in obj.get("object_marking_refs", []) if r not in TLP_BY_ID]
        if level is not None:
            refs.append(TLP2_IDS[level])
        if refs:
            obj["object_marking_refs"] = refs
        else:
            obj.pop("object_marking_refs", None)
        if obj["type"] in ("grouping", "report"):
            obj[DISTRIBUTION_PROPERTY] = int(event.get("distribution", 0) or 0)
    if level is not None:
        objects.append(tlp_definition(level))
    bundle["objects"] = objects
    return json.dumps(bundle, ensure_ascii=False).encode()


def to_misp(objects: Sequence[Mapping[str, Any]]) -> bytes:
    """STIX objects (a grouping or report and what it refers to) as one MISP event, with its
    TLP tag and distribution restored."""
    return json.dumps({"Event": event_of(objects)}, ensure_ascii=False).encode()


def event_of(objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    import stix2  # noqa: PLC0415
    from misp_stix_converter import (  # noqa: PLC0415
        ExternalSTIX2toMISPParser,
        InternalSTIX2toMISPParser,
    )

    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}
    internal = any("misp:tool=" in str(o.get("labels", "")) for o in objects)
    parser = InternalSTIX2toMISPParser() if internal else ExternalSTIX2toMISPParser()
    try:
        parser.load_stix_bundle(stix2.parse(bundle, allow_custom=True))
        parser.parse_stix_bundle()
        event = json.loads(parser.misp_event.to_json())
    except Exception as exc:
        raise _invalid(f"misp-stix could not convert the objects: {exc}") from exc
    levels = [
        TLP_BY_ID[r] for o in objects for r in o.get("object_marking_refs", []) if r in TLP_BY_ID
    ]
    tags = [
        t for t in event.get("Tag", []) if not str(t.get("name", "")).lower().startswith("tlp:")
    ]
    if levels:
        tags.append({"name": f"tlp:{max(levels).word}"})
    event["Tag"] = tags
    container = next((o for o in objects if o.get("type") in ("grouping", "report")), {})
    if DISTRIBUTION_PROPERTY in container:
        event["distribution"] = str(container[DISTRIBUTION_PROPERTY])
    elif levels:
        event["distribution"] = str(TLP_DISTRIBUTION[max(levels)])
    return dict(event)


def write_feed(folder: Path, events: Sequence[Mapping[str, Any]]) -> Path:
    """A MISP feed: ``manifest.json`` (uuid -> summary) and one ``<uuid>.json`` per event."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for event in events:
        uid = str(event["uuid"])
        (folder / f"{uid}.json").write_text(json.dumps({"Event": event}, ensure_ascii=False))
        manifest[uid] = manifest_entry(event)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return path


MANIFEST_KEYS = (
    "info",
    "Orgc",
    "analysis",
    "published",
    "threat_level_id",
    "timestamp",
    "date",
    "Tag",
)


def manifest_entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event's line in a MISP feed's manifest.json."""
    return {key: event[key] for key in MANIFEST_KEYS if key in event}
