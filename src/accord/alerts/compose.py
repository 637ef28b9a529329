"""Composing a CAP alert from a table of fields (a TOML or JSON file, the JSON API, the CLI's
options): CAP 1.2's own element names, one table per ``info``, ``resource`` and ``area``.

The table becomes the ``alert`` element in the XSD's order; a field CAP 1.2 does not have, or a
value of the wrong shape, is reported with the problems the XSD and the rules then find in the
element, all at once (``cap.problems``). Example (TOML)::

    status = "Actual"
    scope = "Public"
    [[info]]
    language = "en"
    category = ["Health"]
    event = "Avian influenza H5N1"
    urgency = "Expected"
    severity = "Severe"
    certainty = "Likely"
    expires = 2026-12-10T00:00:00Z
    [[info.area]]
    areaDesc = "Mekong delta"
    polygon = ["10.9,104.4 10.9,106.8 9.0,106.8 9.0,104.4 10.9,104.4"]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from accord.alerts.models import NS, cap_time
from accord.alerts.xml import section_of
from accord.errors import FieldError

# (name, kind) in the XSD's order; kinds: text, texts (repeated text), time, number, references
# (a text or a list of triples), and the lists of tables in TABLES
Spec = tuple[tuple[str, str], ...]
PAIR: Spec = (("valueName", "text"), ("value", "text"))
RESOURCE: Spec = (
    ("resourceDesc", "text"),
    ("mimeType", "text"),
    ("size", "number"),
    ("uri", "text"),
    ("derefUri", "text"),
    ("digest", "text"),
)
AREA: Spec = (
    ("areaDesc", "text"),
    ("polygon", "texts"),
    ("circle", "texts"),
    ("geocode", "pairs"),
    ("altitude", "number"),
    ("ceiling", "number"),
)
INFO: Spec = (
    ("language", "text"),
    ("category", "texts"),
    ("event", "text"),
    ("responseType", "texts"),
    ("urgency", "text"),
    ("severity", "text"),
    ("certainty", "text"),
    ("audience", "text"),
    ("eventCode", "pairs"),
    ("effective", "time"),
    ("onset", "time"),
    ("expires", "time"),
    ("senderName", "text"),
    ("headline", "text"),
    ("description", "text"),
    ("instruction", "text"),
    ("web", "text"),
    ("contact", "text"),
    ("parameter", "pairs"),
    ("resource", "resources"),
    ("area", "areas"),
)
ALERT: Spec = (
    ("identifier", "text"),
    ("sender", "text"),
    ("sent", "time"),
    ("status", "text"),
    ("msgType", "text"),
    ("source", "text"),
    ("scope", "text"),
    ("restriction", "text"),
    ("addresses", "text"),
    ("code", "texts"),
    ("note", "text"),
    ("references", "references"),
    ("incidents", "text"),
    ("info", "infos"),
)
TABLES = {"infos": INFO, "resources": RESOURCE, "areas": AREA, "pairs": PAIR}  # lists of tables


def compose(fields: Mapping[str, Any]) -> tuple[etree._Element, list[FieldError]]:
    """The ``alert`` element a table of fields describes, and what in the table could not be
    used (unknown fields, wrong shapes)."""
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    problems: list[FieldError] = []
    _fill(root, fields, ALERT, "alert", problems)
    return root, problems


def _fill(
    element: etree._Element,
    fields: Mapping[str, Any],
    spec: Spec,
    path: str,
    problems: list[FieldError],
) -> None:
    names = {name for name, _kind in spec}
    for key in fields:
        if key not in names:
            problems.append(
                FieldError(
                    f"{path}.{key}",
                    "unknown_element",
                    f"CAP 1.2 has no element {key!r} here (one of {', '.join(sorted(names))})",
                    section_of(element),
                )
            )
    for name, kind in spec:
        if name in fields and fields[name] is not None:
            _add(element, name, kind, fields[name], path=f"{path}.{name}", problems=problems)


def _add(
    parent: etree._Element,
    name: str,
    kind: str,
    value: Any,
    *,
    path: str,
    problems: list[FieldError],
) -> None:
    if kind == "references" and isinstance(value, list):
        value = " ".join(str(item) for item in value)
        kind = "text"
    if kind == "texts" or kind in TABLES:
        items = [value] if isinstance(value, str | Mapping) else value
        if not isinstance(items, list):
            problems.append(_shape(path, "a list", parent))
            return
        for index, item in enumerate(items):
            _item(parent, name, kind, item, path=f"{path}[{index}]", problems=problems)
        return
    text = _scalar(value, "text" if kind == "references" else kind)
    if text is None:
        problems.append(_shape(path, _EXPECTED.get(kind, "text"), parent))
        return
    _one(parent, name, text)


def _item(
    parent: etree._Element,
    name: str,
    kind: str,
    value: Any,
    *,
    path: str,
    problems: list[FieldError],
) -> None:
    if kind == "texts":
        _add(parent, name, "text", value, path=path, problems=problems)
    elif not isinstance(value, Mapping):
        problems.append(_shape(path, "a table of fields", parent))
    else:
        _fill(etree.SubElement(parent, f"{{{NS}}}{name}"), value, TABLES[kind], path, problems)


_EXPECTED = {
    "text": "text",
    "time": "a date-time with an offset (2026-12-03T09:00:00-00:00)",
    "number": "a number",
}


def _scalar(value: Any, kind: str) -> str | None:
    if isinstance(value, bool):
        return None
    if kind == "time" and isinstance(value, datetime):
        return cap_time(value) if value.tzinfo is not None else None
    if kind in ("number", "text") and isinstance(value, int | float | Decimal):
        return str(value)
    return value if isinstance(value, str) else None


def _one(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{{{NS}}}{name}").text = text


def _shape(path: str, expected: str, parent: etree._Element) -> FieldError:
    return FieldError(path, "type", f"must be {expected}", section_of(parent))
