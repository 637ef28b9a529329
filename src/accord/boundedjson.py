"""The one JSON parser for anything that comes from outside the process (ADR 0017).

A request body, an envelope, a peer's answer, a card or a file a person wrote is parsed here
and nowhere else, with every bound on before a value is built:

1. **Size** first: at most ``max_bytes``, strict UTF-8 (RFC 8259 §8.1; I-JSON, RFC 7493 §2.1).
2. **Shape before parsing**: one C-speed pass removes the strings and counts the containers and
   separators left, and the nesting depth is measured on the brackets alone. A document nested
   200,000 levels deep, or a megabyte of ``[],[],…``, is refused before any object is built.
3. **While parsing**: no member name twice in an object (RFC 7493 §2.3), no ``NaN`` or
   ``Infinity`` (RFC 8259 §6), no number literal longer than ``max_number_chars`` (so ``int()``
   never meets Python's 4,300-digit limit) and no float that overflows to infinity
   (RFC 7493 §2.2).
4. **After parsing**, one walk checks the exact depth, the items of each container, and that no
   string holds a lone surrogate (RFC 7493 §2.1), which would fail later when encoded.

Every refusal is a :class:`~accord.errors.JsonInvalid` naming the rule, the place (a JSON
Pointer, RFC 6901, or a byte offset) and the bound; it is also a ``ValueError``, so the pure
cores that map ``ValueError`` to their own errors keep doing so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from accord.errors import FieldError, JsonInvalid

__all__ = ["DEFAULT", "JsonLimits", "check_value", "parse_json", "parse_object"]


@dataclass(frozen=True)
class JsonLimits:
    """Bounds of one JSON document. ``max_values`` counts every value (members, items, the
    top level); ``max_items`` the members of one object or the items of one array."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_values: int = 100_000
    max_items: int = 10_000
    max_number_chars: int = 40  # 2^64-1 is 20 digits; a double's shortest form is at most 24

    def but(self, **changes: int) -> JsonLimits:
        return replace(self, **changes)


DEFAULT = JsonLimits()

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ADVICE = "Send one JSON document within the limits named (ADR 0017)."


def parse_json(data: bytes | str, *, what: str, limits: JsonLimits = DEFAULT) -> Any:
    """The value of ``data``, a JSON text within ``limits``; raises JsonInvalid otherwise."""
    text = _text(data, what, limits)
    _shape(text, what, limits)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_members(what, limits),
            parse_constant=_constant(what),
            parse_int=_int(what, limits),
            parse_float=_float(what, limits),
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _refuse(
            what, "", "json", f"is not valid JSON: {exc.msg} at {where} (RFC 8259)"
        ) from None
    except RecursionError:  # the shape check bounds depth far below the interpreter's stack
        raise _refuse(what, "", "max_depth", "nests too deeply") from None  # pragma: no cover
    _walk(value, what, limits, check_strings="\\u" in text)
    return value


def parse_object(data: bytes | str, *, what: str, limits: JsonLimits = DEFAULT) -> dict[str, Any]:
    """The same, for a document whose top level must be an object."""
    value = parse_json(data, what=what, limits=limits)
    if not isinstance(value, dict):
        raise _refuse(what, "", "object", f"must be a JSON object, not {_kind(value)}")
    return value


def _text(data: bytes | str, what: str, limits: JsonLimits) -> str:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise _refuse(what, "", "max_bytes", f"is {size} bytes; at most {limits.max_bytes}")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            what, "", "utf8", f"is not UTF-8 at byte {exc.start} (RFC 8259 §8.1)"
        ) from None


def _shape(text: str, what: str, limits: JsonLimits) -> None:
    """Count and measure the structure without building it: strings removed, then brackets."""
    skeleton = _STRING.sub("", text)
    brackets = _NOT_BRACKET.sub("", skeleton)
    run = re.search(r"[\[{]{%d}" % (limits.max_depth + 1), brackets)  # noqa: UP031 - a regex
    if run is not None:
        raise _deeper(what, limits, run.end())
    containers = skeleton.count("[") + skeleton.count("{")
    values = containers + skeleton.count(",") + 1
    if values > limits.max_values:
        raise _refuse(
            what, "", "max_values", f"holds about {values} values; at most {limits.max_values}"
        )
    if containers <= limits.max_depth:
        return
    depth = 0
    for position, char in enumerate(brackets, start=1):
        depth += 1 if char in "[{" else -1
        if depth > limits.max_depth:
            raise _deeper(what, limits, position)


def _deeper(what: str, limits: JsonLimits, bracket: int) -> JsonInvalid:
    return _refuse(
        what,
        "",
        "max_depth",
        f"nests too deeply: over {limits.max_depth} levels (bracket {bracket})",
    )


def _members(what: str, limits: JsonLimits) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                raise _refuse(
                    what,
                    "",
                    "duplicate_member",
                    f"member {name[:60]!r} appears twice in one object (RFC 7493 §2.3)",
                )
            result[name] = value
        return result

    return hook


def _constant(what: str) -> Any:
    def refuse(name: str) -> Any:
        message = f"holds {name}: {name} is not a number JSON allows (RFC 8259 §6)"
        raise _refuse(what, "", "number", message)

    return refuse


def _int(what: str, limits: JsonLimits) -> Any:
    def convert(literal: str) -> int:
        _number_length(literal, what, limits)
        return int(literal)

    return convert


def _float(what: str, limits: JsonLimits) -> Any:
    def convert(literal: str) -> float:
        _number_length(literal, what, limits)
        value = float(literal)
        if value in (float("inf"), float("-inf")):
            raise _refuse(
                what, "", "number", f"holds {literal}, beyond a double's range (RFC 7493 §2.2)"
            )
        return value

    return convert


def _number_length(literal: str, what: str, limits: JsonLimits) -> None:
    if len(literal) > limits.max_number_chars:
        raise _refuse(
            what,
            "",
            "number",
            f"holds a number of {len(literal)} characters ({literal[:12]}…); at most "
            f"{limits.max_number_chars}",
        )


def check_value(value: Any, *, what: str, limits: JsonLimits = DEFAULT) -> None:
    """The same bounds for a value another parser built (TOML): depth, items, numbers and
    strings; raises JsonInvalid naming the place."""
    _walk(value, what, limits, check_strings=True)


def _walk(value: Any, what: str, limits: JsonLimits, *, check_strings: bool) -> None:
    """Exact depth, items per container, number sizes and lone surrogates: iterative."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, pointer, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= limits.max_depth:
                raise _refuse(
                    what, pointer, "max_depth", f"nests too deeply: over {limits.max_depth} levels"
                )
            if len(item) > limits.max_items:
                raise _refuse(
                    what, pointer, "max_items", f"has {len(item)} items; at most {limits.max_items}"
                )
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if check_strings and isinstance(key, str) and _SURROGATE.search(key):
                    raise _refuse(what, pointer, "unicode", _LONE)
                pending.append((child, f"{pointer}/{_escape(key)}", depth + 1))
        elif check_strings and isinstance(item, str) and _SURROGATE.search(item):
            raise _refuse(what, pointer, "unicode", _LONE)
        elif isinstance(item, int) and len(str(item)) > limits.max_number_chars:
            raise _refuse(what, pointer, "number", f"is over {limits.max_number_chars} digits")


_LONE = "holds a lone UTF-16 surrogate escape, which is not a character (RFC 7493 §2.1)"


def _escape(key: str | int) -> str:
    # RFC 6901 §3: '~' and '/' are escaped in a JSON Pointer
    return str(key).replace("~", "~0").replace("/", "~1")[:80]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def _refuse(what: str, pointer: str, rule: str, message: str) -> JsonInvalid:
    where = f" at {pointer}" if pointer else ""
    text = f"{what}{where} {message}"
    return JsonInvalid(text, advice=_ADVICE, errors=[FieldError(pointer or what, rule, text)])
