"""STIX 2.1 documents as bytes: split a bundle or a TAXII envelope into its objects, each kept
as the exact bytes it arrived in (unknown properties included), with the few fields the store
indexes. Pure: bytes in, parsed objects or an exception out.

A JSON object with a key given twice is refused: two parsers could read two different markings
from it (RFC 8259 §4 leaves duplicate names to the implementation).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from accord.errors import FieldError, StixInvalid

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"  # STIX 2.1 §1.6 (media type)
SPEC_VERSION = "2.1"
# STIX 2.1 §2.9 identifier: type--UUID (RFC 4122, variant 10)
IDENTIFIER = re.compile(
    r"^([a-z][a-z0-9-]+[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-"
    r"[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
_WS = re.compile(r"[ \t\n\r]*")


class DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DuplicateKey(f"the key {twice!r} appears twice in one JSON object")
    return value


_STRICT = json.JSONDecoder(object_pairs_hook=_pairs)


@dataclass(frozen=True)
class StixObject:
    """One STIX object as received: ``raw`` is its exact JSON text, ``value`` its parse."""

    raw: bytes
    value: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.value["id"])

    @property
    def type(self) -> str:
        return str(self.value["type"])

    @property
    def version(self) -> str:
        """TAXII 2.1 §3.4.1 match[version]: ``modified``, else ``created``; '' for objects
        with neither (most SCOs), which have one version only (STIX 2.1 §3.6)."""
        return str(self.value.get("modified") or self.value.get("created") or "")


def loads(text: str, where: str) -> Any:
    """One JSON value, duplicate keys refused."""
    try:
        return _STRICT.decode(text)
    except (ValueError, RecursionError) as exc:
        raise _invalid(where, "json", f"not valid JSON: {exc}") from exc


def split(data: bytes, *, max_objects: int) -> list[StixObject]:
    """The objects of a STIX bundle, a TAXII envelope (``{"objects": [...]}``), or one STIX
    object, each with its exact bytes. Raises StixInvalid naming what is wrong. Each object
    is parsed once, strictly (duplicate keys refused)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("body", "utf-8", f"not UTF-8 (RFC 8259 §8.1): {exc}") from exc
    start = _skip(text, 0)
    if text[start : start + 1] != "{":
        raise _invalid("body", "object", "the document must be a JSON object")
    top: dict[str, Any] = {}
    objects: list[StixObject] | None = None
    index, seen = _skip(text, start + 1), set[str]()
    while text[index : index + 1] != "}":
        if seen:
            if text[index : index + 1] != ",":
                raise _invalid("body", "json", f"expected ',' or '}}' at character {index}")
            index = _skip(text, index + 1)
        key, index = _key(text, index, seen)
        if key == "objects":
            objects, index = _elements(text, index, max_objects)
        else:
            top[key], index = _strict_value(text, index, key)
        index = _skip(text, index)
    _trailing(text, index + 1)
    if objects is None:  # one object on its own
        return [StixObject(text[start:].strip().encode(), loads(text, "body"))]
    if "type" in top and top["type"] != "bundle":
        raise _invalid("type", "bundle", "a document with objects must be a bundle or an envelope")
    return objects


def _key(text: str, index: int, seen: set[str]) -> tuple[str, int]:
    """A member's name and the index of its value."""
    if text[index : index + 1] != '"':
        raise _invalid("body", "json", f"expected a property name at character {index}")
    key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
    if key in seen:
        raise _invalid("body", "json", f"the key {key!r} appears twice in one JSON object")
    seen.add(key)
    index = _skip(text, index)
    if text[index : index + 1] != ":":
        raise _invalid("body", "json", f"expected ':' at character {index}")
    return key, _skip(text, index + 1)


def _elements(text: str, start: int, max_objects: int) -> tuple[list[StixObject], int]:
    """The objects of the array at ``start`` (at most ``max_objects``), and its end."""
    if text[start : start + 1] != "[":
        raise _invalid("objects", "array", "objects must be a JSON array (TAXII 2.1 §3.7)")
    index, objects = _skip(text, start + 1), list[StixObject]()
    while text[index : index + 1] != "]":
        if objects:
            if text[index : index + 1] != ",":
                raise _invalid("objects", "json", f"expected ',' at character {index}")
            index = _skip(text, index + 1)
        where = f"objects[{len(objects)}]"
        if len(objects) == max_objects:
            raise _invalid(
                "objects", "max_objects", f"more than {max_objects} objects in one document"
            )
        if text[index : index + 1] != "{":
            raise _invalid(where, "object", "each object must be a JSON object")
        value, end = _strict_value(text, index, where)
        objects.append(StixObject(text[index:end].encode(), value))
        index = _skip(text, end)
    return objects, index + 1


def _strict_value(text: str, index: int, where: str) -> tuple[Any, int]:
    try:
        value, end = _STRICT.raw_decode(text, index)
    except (ValueError, RecursionError) as exc:
        raise _invalid(where, "json", f"not valid JSON: {exc}") from exc
    return value, int(end)


def _trailing(text: str, index: int) -> None:
    if _skip(text, index) != len(text):
        raise _invalid("body", "json", f"extra data after the document at character {index}")


def _skip(text: str, index: int) -> int:
    match = _WS.match(text, index)
    return match.end() if match else index


def _invalid(field: str, rule: str, message: str) -> StixInvalid:
    return StixInvalid(
        f"{field}: {message}",
        advice="Send a STIX 2.1 bundle or a TAXII 2.1 envelope in UTF-8 JSON.",
        errors=[FieldError(field, rule, message)],
    )
