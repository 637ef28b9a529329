"""Reading a document a person wrote: one table of fields in a TOML or JSON file.

UTF-8, at most ``max_bytes`` (read no further), no field twice, no NaN or Infinity, and a
refusal that names the file and the place instead of a parser's traceback. The caller names
what the document is (``what``) and the error to raise, so a request file and a registry file
are refused in their own words.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from accord.boundedjson import DEFAULT, JsonLimits, check_value, parse_json
from accord.errors import DocumentInvalid, JsonInvalid

MAX_DOCUMENT_BYTES = 1024 * 1024  # a document is text: 1 MiB leaves room for long summaries


def load(
    path: Path,
    *,
    what: str = "document",
    max_bytes: int = MAX_DOCUMENT_BYTES,
    error: type[DocumentInvalid] = DocumentInvalid,
) -> dict[str, Any]:
    """The mapping in a TOML or JSON file, or ``error`` saying why there is none."""
    data = _read(path, what, max_bytes, error)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path} is not UTF-8 text (byte {exc.start})", advice="Save the file as UTF-8."
        ) from exc
    suffix = path.suffix.lower()
    if suffix == ".toml":
        parsed = _toml(path, text, error)
    elif suffix == ".json":
        parsed = _json(path, text, what, error)
    else:
        raise error(
            f"{path} is neither .toml nor .json", advice="Name the file NAME.toml or NAME.json."
        )
    if not isinstance(parsed, dict):
        raise error(
            f"{path} holds a {type(parsed).__name__}, not a table of fields",
            advice=f"Write the {what} as one JSON object or TOML table of fields.",
        )
    return parsed


def _read(path: Path, what: str, max_bytes: int, error: type[DocumentInvalid]) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", advice="Check the path.") from exc
    if len(data) > max_bytes:
        raise error(
            f"{path} is over {max_bytes} bytes, too large for a {what}",
            advice="Send large material as an evidence package and reference it.",
        )
    return data


def _toml(path: Path, text: str, error: type[DocumentInvalid]) -> Any:
    try:
        value = tomllib.loads(text, parse_float=_toml_float)
    except tomllib.TOMLDecodeError as exc:
        raise error(
            f"{path} is not valid TOML: {exc}", advice="Fix the syntax at the place named."
        ) from exc
    except (ValueError, RecursionError) as exc:  # an integer over 4,300 digits, deep nesting
        raise error(
            f"{path} holds a value beyond what a document may: {exc}"[:300],
            advice="Fix the value named.",
        ) from exc
    try:
        check_value(value, what=str(path), limits=_limits(text))
    except JsonInvalid as exc:
        raise error(exc.message, advice="Fix the place named.", errors=exc.errors) from exc
    return value


def _toml_float(literal: str) -> float:
    if len(literal) > DEFAULT.max_number_chars:
        raise ValueError(f"a number of {len(literal)} characters")
    return float(literal)


def _limits(text: str) -> JsonLimits:
    return DEFAULT.but(max_bytes=max(DEFAULT.max_bytes, len(text.encode("utf-8", "replace"))))


def _json(path: Path, text: str, what: str, error: type[DocumentInvalid]) -> Any:
    # a legal document with two values for one field is ambiguous: the parser refuses it
    try:
        return parse_json(text, what=str(path), limits=_limits(text))
    except JsonInvalid as exc:
        raise error(exc.message, advice="Fix the place named.", errors=exc.errors) from exc
