"""STIX 2.1 validation on ingest: the JSON schemas' constraints (OASIS cti-stix2-json-schemas,
the set ``stix2-validator`` ships) and the spec's MUST rules that no schema can state, checked
by hand for speed. Pure: a parsed object in, nothing out, or StixInvalid listing every broken
rule with the object id, the property and the section.

``tests/unit/intel/test_validate_interop.py`` runs ``stix2-validator`` on the same corpus and
requires the same verdict on every object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from accord.errors import FieldError, StixInvalid
from accord.intel.pattern import PatternInvalid, check_pattern
from accord.intel.stix import IDENTIFIER, SPEC_VERSION, StixObject
from accord.intel.validate_names import OBSERVABLE_TYPE

# STIX 2.1 §2.14 timestamp: RFC 3339, UTC, "Z"
TIMESTAMP = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):"
    r"([0-5][0-9]|60)(\.[0-9]+)?Z$"
)
MILLIS = re.compile(r"T\d{2}:\d{2}:\d{2}\.\d{3,}Z$")  # §3.2: created/modified to the millisecond
TYPE_NAME = re.compile(r"^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-?$")  # §3.1 type
PROPERTY_NAME = re.compile(r"^[a-z0-9_]{3,250}$|^id$")  # §3.1 property names
SELECTOR = re.compile(r"^([a-z0-9_-]{3,249}(\.(\[\d+\]|[a-z0-9_-]{1,250}))*|id)$")  # §7.2.3
EXTENSION_KEY = re.compile(
    r"^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-ext$|^extension-definition--[0-9a-fA-F]{8}-"
    r"[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
MAX_COUNT = 999_999_999  # §4.14 number_observed, §5.2 count

SDO = frozenset(
    [
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    ]
)
SRO = frozenset({"relationship", "sighting"})
SCO = OBSERVABLE_TYPE
META = frozenset({"marking-definition", "language-content", "extension-definition"})
# Properties each type must have, beyond the common ones (the schemas' "required")
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "attack-pattern": ("name",),
    "campaign": ("name",),
    "course-of-action": ("name",),
    "grouping": ("context", "object_refs"),
    "identity": ("name",),
    "incident": ("name",),
    "indicator": ("pattern", "pattern_type", "valid_from"),
    "infrastructure": ("name",),
    "intrusion-set": ("name",),
    "malware": ("is_family",),
    "malware-analysis": ("product",),
    "note": ("content", "object_refs"),
    "observed-data": ("first_observed", "last_observed", "number_observed"),
    "opinion": ("object_refs", "opinion"),
    "report": ("name", "object_refs", "published"),
    "threat-actor": ("name",),
    "tool": ("name",),
    "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"),
    "sighting": ("sighting_of_ref",),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": ("protocols",),
    "software": ("name",),
    "url": ("value",),
    "language-content": ("contents", "object_ref"),
    "extension-definition": ("extension_types", "name", "schema", "version"),
}
SECTION = {
    **dict.fromkeys(SDO, "§4"),
    **dict.fromkeys(SRO, "§5"),
    **dict.fromkeys(SCO, "§6"),
    "marking-definition": "§7.2",
    "language-content": "§7.1",
    "extension-definition": "§7.3",
}
SECTION.update(indicator="§4.7", malware="§4.11", relationship="§5.1", sighting="§5.2")
SECTION.update({"observed-data": "§4.14", "report": "§4.16"})

Check = Callable[[Any], str | None]  # None when the value is fine, else what is wrong


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _integer(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else "must be an integer"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return "must be an RFC 3339 timestamp in UTC ending in Z (§2.14)"
    return None


def _identifier(value: Any) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        return "must be an identifier: type--UUID (§2.8)"
    return None


def _list_of(item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list) or not value:
            return "must be a non-empty list (§2.11)"
        problems = [p for p in map(item, value) if p]
        return f"every item {problems[0]}" if problems else None

    return check


def _dictionary(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "must be a non-empty dictionary (§2.3)"
    return None


def _confidence(value: Any) -> str | None:
    if _integer(value) or not 0 <= value <= 100:
        return "must be an integer from 0 to 100 (§3.2)"
    return None


def _count(value: Any) -> str | None:
    if _integer(value) or not 0 <= value <= MAX_COUNT:
        return f"must be an integer from 0 to {MAX_COUNT}"
    return None


def _external_reference(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("source_name"), str):
        return "must be an external reference with a source_name string (§2.5)"
    if not any(k in value for k in ("description", "url", "external_id")):
        return "needs at least one of description, url or external_id (§2.5)"
    return None


def _kill_chain_phase(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(
        isinstance(value.get(k), str) for k in ("kill_chain_name", "phase_name")
    )
    return None if ok else "must have kill_chain_name and phase_name strings (§2.10)"


def _granular(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a granular marking object (§7.2.3)"
    selectors = value.get("selectors")
    if not isinstance(selectors, list) or _list_of(_string)(selectors):
        return "selectors must be a non-empty list of selector strings (§7.2.3)"
    if not all(SELECTOR.match(s) for s in selectors):
        return "selectors must be a non-empty list of selector strings (§7.2.3)"
    has_ref, has_lang = "marking_ref" in value, "lang" in value
    if has_ref == has_lang:
        return "must have exactly one of marking_ref and lang (§7.2.3)"
    if has_ref and _marking_ref(value["marking_ref"]):
        return "marking_ref must be a marking-definition identifier (§7.2.3)"
    return None


def _marking_ref(value: Any) -> str | None:
    if _identifier(value) or not value.startswith("marking-definition--"):
        return "must be a marking-definition identifier (§7.2)"
    return None


COMMON: Mapping[str, Check] = {
    "spec_version": lambda v: None if v == SPEC_VERSION else f"must be {SPEC_VERSION!r} (§3.2)",
    "created_by_ref": _identifier,
    "created": _timestamp,
    "modified": _timestamp,
    "revoked": _boolean,
    "labels": _list_of(_string),
    "confidence": _confidence,
    "lang": _string,
    "external_references": _list_of(_external_reference),
    "object_marking_refs": _list_of(_marking_ref),
    "granular_markings": _list_of(_granular),
    "defanged": _boolean,
}
PROPERTIES: Mapping[str, Mapping[str, Check]] = {
    "indicator": {
        "name": _string,
        "description": _string,
        "pattern": _string,
        "pattern_type": _string,
        "pattern_version": _string,
        "valid_from": _timestamp,
        "valid_until": _timestamp,
        "indicator_types": _list_of(_string),
        "kill_chain_phases": _list_of(_kill_chain_phase),
    },
    "malware": {
        "is_family": _boolean,
        "name": _string,
        "malware_types": _list_of(_string),
        "first_seen": _timestamp,
        "last_seen": _timestamp,
        "sample_refs": _list_of(_identifier),
        "kill_chain_phases": _list_of(_kill_chain_phase),
    },
    "campaign": {"name": _string, "first_seen": _timestamp, "last_seen": _timestamp},
    "infrastructure": {
        "name": _string,
        "infrastructure_types": _list_of(_string),
        "first_seen": _timestamp,
        "last_seen": _timestamp,
        "kill_chain_phases": _list_of(_kill_chain_phase),
    },
    "intrusion-set": {"name": _string, "first_seen": _timestamp, "last_seen": _timestamp},
    "threat-actor": {"name": _string, "first_seen": _timestamp, "last_seen": _timestamp},
    "identity": {"name": _string, "identity_class": _string, "sectors": _list_of(_string)},
    "report": {"name": _string, "published": _timestamp, "object_refs": _list_of(_identifier)},
    "grouping": {"context": _string, "object_refs": _list_of(_identifier)},
    "note": {"content": _string, "object_refs": _list_of(_identifier)},
    "opinion": {"opinion": _string, "object_refs": _list_of(_identifier)},
    "observed-data": {
        "first_observed": _timestamp,
        "last_observed": _timestamp,
        "number_observed": lambda v: (
            None
            if not _count(v) and v >= 1
            else (f"must be an integer from 1 to {MAX_COUNT} (§4.14)")
        ),
        "object_refs": _list_of(_identifier),
    },
    "relationship": {
        "relationship_type": _string,
        "source_ref": _identifier,
        "target_ref": _identifier,
        "start_time": _timestamp,
        "stop_time": _timestamp,
    },
    "sighting": {
        "sighting_of_ref": _identifier,
        "first_seen": _timestamp,
        "last_seen": _timestamp,
        "count": _count,
        "observed_data_refs": _list_of(_identifier),
        "where_sighted_refs": _list_of(_identifier),
        "summary": _boolean,
    },
    "marking-definition": {"name": _string, "definition_type": _string, "definition": _dictionary},
    "language-content": {"object_ref": _identifier, "contents": _dictionary},
    "domain-name": {"value": _string},
    "email-addr": {"value": _string},
    "ipv4-addr": {"value": _string},
    "ipv6-addr": {"value": _string},
    "mac-addr": {"value": _string},
    "url": {"value": _string},
    "autonomous-system": {"number": _integer},
    "file": {"name": _string, "size": _integer, "hashes": _dictionary},
}
# (earlier, later, section): where both are present, later must not precede earlier
ORDERED: Mapping[str, tuple[tuple[str, str, str, bool], ...]] = {
    "indicator": (("valid_from", "valid_until", "§4.7", True),),
    "malware": (("first_seen", "last_seen", "§4.11", False),),
    "campaign": (("first_seen", "last_seen", "§4.2", False),),
    "infrastructure": (("first_seen", "last_seen", "§4.8", False),),
    "intrusion-set": (("first_seen", "last_seen", "§4.9", False),),
    "threat-actor": (("first_seen", "last_seen", "§4.17", False),),
    "observed-data": (("first_observed", "last_observed", "§4.14", False),),
    "relationship": (("start_time", "stop_time", "§5.1", True),),
    "sighting": (("first_seen", "last_seen", "§5.2", False),),
}


def validate(obj: StixObject) -> None:
    """Raise StixInvalid with every rule ``obj`` breaks (STIX 2.1)."""
    problems = problems_of(obj.value)
    if problems:
        where = obj.value.get("id", "object") if isinstance(obj.value.get("id"), str) else "object"
        first = problems[0]
        raise StixInvalid(
            f"{where}: {first.field.split('.', 1)[-1]} {first.message}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            advice="Correct the properties listed (STIX 2.1, OASIS Standard).",
            errors=problems,
        )


def problems_of(value: dict[str, Any]) -> list[FieldError]:
    """Every broken rule of one object, each naming ``id.property`` and the section."""
    oid = value.get("id") if isinstance(value.get("id"), str) else "object"
    found: list[FieldError] = []

    def bad(prop: str, rule: str, message: str, section: str) -> None:
        found.append(FieldError(f"{oid}.{prop}", rule, message, f"STIX 2.1 {section}"))

    kind = value.get("type")
    if not isinstance(kind, str) or not 3 <= len(kind) <= 250 or not TYPE_NAME.match(kind):
        bad("type", "type_name", "must be 3-250 characters a-z, 0-9 and '-' (§3.1)", "§3.1")
        return found
    _check_identity(value, kind, bad)
    _check_required(value, kind, bad)
    _check_types(value, kind, bad)
    _check_rules(value, kind, bad)
    return found


Bad = Callable[[str, str, str, str], None]


def _check_identity(value: dict[str, Any], kind: str, bad: Bad) -> None:
    oid = value.get("id")
    if oid is None:
        bad("id", "required", "is required (§3.2)", "§3.2")
    elif _identifier(oid):
        bad("id", "identifier", "must be an identifier: type--UUID (§2.8)", "§2.8")
    elif not oid.startswith(f"{kind}--"):
        bad("id", "id_type", f"must start with '{kind}--', the object's type (§2.8)", "§2.8")
    for name in value:
        if not PROPERTY_NAME.match(name) and name != "id":
            bad(name, "property_name", "property names are 3-250 characters a-z, 0-9, _", "§3.1")


def _check_required(value: dict[str, Any], kind: str, bad: Bad) -> None:
    section = SECTION.get(kind, "§3.2")
    if kind not in SCO:
        common = (
            ("spec_version", "created")
            if kind == "marking-definition"
            else ("spec_version", "created", "modified")
        )
        for prop in common:
            if prop not in value:
                bad(prop, "required", "is required (§3.2)", "§3.2")
    for prop in REQUIRED.get(kind, ()):
        if prop not in value:
            bad(prop, "required", f"is required on {kind} ({section})", section)


def _check_types(value: dict[str, Any], kind: str, bad: Bad) -> None:
    specific = PROPERTIES.get(kind, {})
    for prop, item in value.items():
        check = specific.get(prop) or COMMON.get(prop)
        problem = check(item) if check else None
        if problem:
            bad(prop, "type", problem, SECTION.get(kind, "§3.2") if prop in specific else "§3.2")
    for prop in ("created", "modified"):
        if kind not in SCO and isinstance(value.get(prop), str) and not MILLIS.search(value[prop]):
            bad(prop, "precision", "must be precise to the millisecond (§3.2)", "§3.2")
    extensions = value.get("extensions")
    if extensions is not None:
        if not isinstance(extensions, dict) or not extensions:
            bad("extensions", "type", "must be a non-empty dictionary (§3.2)", "§3.2")
        else:
            for key, ext in extensions.items():
                if not EXTENSION_KEY.match(key) or not isinstance(ext, dict) or not ext:
                    bad(
                        f"extensions.{key}",
                        "extension",
                        "must be a predefined '-ext' or an "
                        "extension-definition id holding a non-empty object (§7.3)",
                        "§7.3",
                    )


def _check_rules(value: dict[str, Any], kind: str, bad: Bad) -> None:
    created, modified = value.get("created"), value.get("modified")
    if _stamp(created) and _stamp(modified) and _moment(str(modified)) < _moment(str(created)):
        bad("modified", "modified_after_created", "must not be earlier than created (§3.2)", "§3.2")
    for earlier, later, section, strict in ORDERED.get(kind, ()):
        if _stamp(value.get(earlier)) and _stamp(value.get(later)):
            a, b = _moment(value[earlier]), _moment(value[later])
            if b < a or (strict and b == a):
                word = "later than" if strict else "earlier than"
                bad(
                    later,
                    "order",
                    f"must be {word if strict else 'not ' + word} {earlier} ({section})",
                    section,
                )
    if kind == "malware" and value.get("is_family") is True and "name" not in value:
        bad("name", "required", "is required when is_family is true (§4.11)", "§4.11")
    if (
        kind == "indicator"
        and value.get("pattern_type") == "stix"
        and isinstance(value.get("pattern"), str)
    ):
        try:
            check_pattern(value["pattern"])
        except PatternInvalid as exc:
            bad("pattern", "stix_pattern", f"is not a valid STIX pattern: {exc} (§9)", "§9")
    if kind == "marking-definition":
        _check_marking(value, bad)
    if kind == "observed-data" and "objects" in value and "object_refs" in value:
        bad("objects", "exclusive", "must not appear with object_refs (§4.14)", "§4.14")
    refs = value.get("object_marking_refs")
    if kind == "marking-definition" and isinstance(refs, list) and value.get("id") in refs:
        bad("object_marking_refs", "circular", "must not name the marking itself (§7.2)", "§7.2")


def _check_marking(value: dict[str, Any], bad: Bad) -> None:
    """§7.2: a marking is either a definition_type with its definition, or an extension."""
    has_type, has_definition = "definition_type" in value, "definition" in value
    if has_type != has_definition:
        bad("definition", "required", "definition_type and definition go together (§7.2)", "§7.2")
    if not has_type and "extensions" not in value:
        bad(
            "extensions",
            "required",
            "needs definition_type and definition, or extensions (§7.2)",
            "§7.2",
        )
    kind, definition = value.get("definition_type"), value.get("definition")
    definition = definition if isinstance(definition, dict) else {}
    if kind == "statement" and not isinstance((definition or {}).get("statement"), str):
        bad(
            "definition.statement",
            "required",
            "a statement marking has a statement string (§7.2.1.3)",
            "§7.2.1.3",
        )
    if kind == "tlp" and (definition or {}).get("tlp") not in ("white", "green", "amber", "red"):
        bad("definition.tlp", "enum", "must be white, green, amber or red (§7.2.1.4)", "§7.2.1.4")


def _stamp(value: Any) -> bool:
    return isinstance(value, str) and TIMESTAMP.match(value) is not None


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
