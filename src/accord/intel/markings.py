"""Data markings (STIX 2.1 §7.2): TLP 2.0 with its official marking definitions, the TLP 1.0
definitions STIX 2.1 predefines (read as their TLP 2.0 level), and the handling codes of
Art. 47 law-enforcement exchanges as marking definitions of Accord's own extension, translated
both ways without loss. Pure.

What an object carries is read from ``object_marking_refs`` and every ``granular_markings``
entry: a granular marking marks part of the object, and the object travels whole, so the
strictest level anywhere in it is the object's (ADR 0014).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from accord.requests.records import HandlingCode

# TLP 2.0 marking definitions (OASIS cti-stix-common-objects, extension-definition-specifications
# /tlp-2.0): fixed ids, created 2022-10-01, the level in the extension's "tlp_2_0" property
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"


class Tlp(IntEnum):
    """TLP 2.0 levels (FIRST, August 2022), from the least to the most restrictive."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        return "TLP:" + self.name.replace("_", "+")

    @property
    def word(self) -> str:  # the value of "tlp_2_0", and MISP's tag after "tlp:"
        return self.name.lower().replace("_", "+")

    @classmethod
    def parse(cls, text: str) -> Tlp:
        word = text.strip().lower().removeprefix("tlp:")
        for level in cls:
            if word == level.word:
                return level
        if word == "white":  # TLP 1.0 WHITE is TLP 2.0 CLEAR
            return cls.CLEAR
        raise ValueError(
            f"{text!r} is not a TLP 2.0 level (clear, green, amber, amber+strict, red)"
        )


TLP2_IDS: Mapping[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# STIX 2.1 §7.2.1.4: the TLP 1.0 definitions, still in wide use
TLP1_IDS: Mapping[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # white
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
TLP_BY_ID: Mapping[str, Tlp] = {**{v: k for k, v in TLP2_IDS.items()}, **TLP1_IDS}

# Accord's extension for Art. 47 handling codes (STIX 2.1 §7.3, a property-extension of
# marking-definition); ids are name-based (RFC 9562 §5.5) so every node derives the same ones
ACCORD_NAMESPACE = uuid.UUID("5b1c3f9e-7a43-5d0e-9d1a-2f6b8c4e1a77")
HANDLING_EXTENSION = f"extension-definition--{uuid.uuid5(ACCORD_NAMESPACE, 'handling/v1')}"
ACCORD_IDENTITY = f"identity--{uuid.uuid5(ACCORD_NAMESPACE, 'accord-project')}"
HANDLING_CREATED = "2026-11-24T00:00:00.000Z"


def tlp_definition(level: Tlp) -> dict[str, Any]:
    """The official TLP 2.0 marking-definition object of ``level``."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": TLP2_CREATED,
        "name": level.label,
        "extensions": {
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level.word}
        },
    }


def participant_identity(participant_id: str) -> str:
    """The STIX identity id standing for an Accord participant (the same on every node)."""
    return f"identity--{uuid.uuid5(ACCORD_NAMESPACE, 'participant/' + participant_id)}"


def handling_extension_definition() -> dict[str, Any]:
    """The extension-definition object that tells other tools what the handling markings are."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": HANDLING_EXTENSION,
        "created_by_ref": ACCORD_IDENTITY,
        "created": HANDLING_CREATED,
        "modified": HANDLING_CREATED,
        "name": "Accord handling code (UNCC Art. 47)",
        "description": "How a receiving agency may use information exchanged under Art. 47 of "
        "the UN Convention against Cybercrime: confidential, use_limited (with the "
        "limitations), not_for_evidence, no_onward_transfer.",
        "schema": "https://accord.example.org/schemas/handling-v1.json",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def handling_definition(code: HandlingCode, use_limitations: str | None = None) -> dict[str, Any]:
    """The marking definition of one handling code; ``use_limited`` carries its text, so two
    different limitations are two definitions (ids derived from code and text)."""
    text = use_limitations if code is HandlingCode.USE_LIMITED else None
    seed = json.dumps([code.value, text], ensure_ascii=False)
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "handling_code": code.value,
    }
    if text is not None:
        extension["use_limitations"] = text
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.uuid5(ACCORD_NAMESPACE, 'handling/' + seed)}",
        "created_by_ref": ACCORD_IDENTITY,
        "created": HANDLING_CREATED,
        "name": f"Art. 47 handling: {code.value}",
        "extensions": {HANDLING_EXTENSION: extension},
    }


def handling_definitions(
    codes: Sequence[HandlingCode], use_limitations: str | None
) -> list[dict[str, Any]]:
    """An Art. 47 exchange's handling codes as marking definitions, in the codes' order."""
    return [handling_definition(code, use_limitations) for code in codes]


def handling_codes(
    refs: Sequence[str], definitions: Mapping[str, Mapping[str, Any]]
) -> tuple[tuple[HandlingCode, ...], str | None]:
    """The inverse: the handling codes (in order) and the use limitation the refs name."""
    codes: list[HandlingCode] = []
    limitations: str | None = None
    for ref in refs:
        extension = _handling(definitions.get(ref))
        if extension is None:
            continue
        code = HandlingCode(extension["handling_code"])
        if code not in codes:
            codes.append(code)
        if code is HandlingCode.USE_LIMITED:
            limitations = str(extension.get("use_limitations", ""))
    return tuple(codes), limitations


def _handling(definition: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if definition is None:
        return None
    extension = (definition.get("extensions") or {}).get(HANDLING_EXTENSION)
    if not isinstance(extension, dict) or extension.get("handling_code") not in set(HandlingCode):
        return None
    return extension


@dataclass(frozen=True)
class Marking:
    """What an object's markings say about who may hold it."""

    tlp: Tlp | None  # the strictest TLP level anywhere in the object; None: no TLP marking
    handling: frozenset[HandlingCode]
    use_limitations: str | None
    unknown: frozenset[str]  # marking refs this node cannot interpret: nobody may receive

    @property
    def label(self) -> str:
        parts = [self.tlp.label if self.tlp is not None else "no TLP marking"]
        parts += sorted(f"handling:{code.value}" for code in self.handling)
        parts += sorted(f"unknown marking {ref}" for ref in self.unknown)
        return ", ".join(parts)


def marking_refs(value: Mapping[str, Any]) -> list[str]:
    """Every marking ref of an object: its object markings, then its granular markings."""
    refs = [r for r in value.get("object_marking_refs") or () if isinstance(r, str)]
    for granular in value.get("granular_markings") or ():
        ref = granular.get("marking_ref") if isinstance(granular, dict) else None
        if isinstance(ref, str):
            refs.append(ref)
    return refs


def marking_of(value: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]]) -> Marking:
    """The object's marking, reading ``definitions`` (marking definitions known to this node,
    by id) for the refs that are not TLP. Marking and extension definitions themselves carry
    no marking and are public: they only say what a marking means (ADR 0014)."""
    refs = marking_refs(value)
    if value.get("type") in ("marking-definition", "extension-definition") and not refs:
        return Marking(Tlp.CLEAR, frozenset(), None, frozenset())
    levels = [level for ref in refs if (level := _tlp_of(ref, definitions)) is not None]
    codes, limitations = handling_codes(refs, definitions)
    unknown = frozenset(ref for ref in refs if ref not in TLP_BY_ID and ref not in definitions)
    return Marking(max(levels) if levels else None, frozenset(codes), limitations, unknown)


def _tlp_of(ref: str, definitions: Mapping[str, Mapping[str, Any]]) -> Tlp | None:
    """A ref's TLP level: an official id, or a definition of this node that declares one
    (STIX 2.1 §7.2.1.4 ``definition.tlp``, or the TLP 2.0 extension's ``tlp_2_0``)."""
    if ref in TLP_BY_ID:
        return TLP_BY_ID[ref]
    definition = definitions.get(ref)
    if definition is None:
        return None
    declared = (definition.get("extensions") or {}).get(TLP2_EXTENSION, {}).get("tlp_2_0")
    if declared is None and definition.get("definition_type") == "tlp":
        declared = (definition.get("definition") or {}).get("tlp")
    try:
        return Tlp.parse(str(declared)) if declared is not None else None
    except ValueError:
        return Tlp.RED  # a TLP marking with a level nobody defined: the strictest reading


def definitions_in(values: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The marking definitions among ``values``, by id."""
    return {str(v["id"]): v for v in values if v.get("type") == "marking-definition"}
