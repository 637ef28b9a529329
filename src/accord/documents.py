"""Reading a document a person wrote: one table of fields in a TOML or JSON file.

UTF-8, at most ``max_bytes`` (read no further), no field twice, no NaN or Infinity, and a
refusal that names the file and the place instead of a parser's traceback. The caller names
what the document is (``what``) and the error to raise, so a request file and a registry file
are refused in their own words.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from accord.errors import DocumentInvalid

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
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(
            f"{path} is not valid TOML: {exc}", advice="Fix the syntax at the place named."
        ) from exc


def _json(path: Path, text: str, what: str, error: type[DocumentInvalid]) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            advice="Fix the syntax at the place named.",
        ) from exc
    except ValueError as exc:
        raise error(f"{path}: {exc}", advice="Fix the value named.") from exc
    except RecursionError as exc:
        raise error(
            f"{path} nests too deeply", advice=f"A {what} is a table of fields, not deep data."
        ) from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # a legal document with two values for one field is ambiguous: refuse it
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"field {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")
