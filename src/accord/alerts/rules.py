"""The rules of the CAP 1.2 text that its XSD does not express, checked on the parsed tree.

Each finding is a :class:`FieldError` naming the element (``alert.info[0].area[1].polygon[0]``),
the rule and the section of the specification (CAP 1.2, OASIS Standard, 1 July 2010). Accord's
own profile adds three rules for what it composes and sends (``profile_errors``): every info
block of an alert or update says when it expires, an exercise alert names its exercise, and a
draft is never sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import datetime

from lxml import etree

from accord.alerts.models import NS, Reference, parse_cap_time
from accord.alerts.xml import path_of
from accord.errors import FieldError
from accord.identity.areas import parse_circle, parse_polygon

ALERT, INFO, RESOURCE, AREA = (f"CAP 1.2 §3.2.{n}" for n in (1, 2, 3, 4))
PROFILE = "Accord CAP profile (ADR 0013)"
_FORBIDDEN = re.compile(r"[\s,<&]")  # CAP 1.2 §3.2.1 identifier, sender
# RFC 3066 §2.1: a primary subtag of 1-8 letters, then subtags of 1-8 letters or digits
_RFC3066 = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")
_CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_TIME_FIELDS = ("effective", "onset", "expires")

Known = Callable[[Reference], bool]


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return element.findall(_q(name))


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(_q(name))
    return None if child is None else (child.text or "")


def _error(element: etree._Element, rule: str, message: str, section: str) -> FieldError:
    return FieldError(path_of(element), rule, message, section)


def rule_errors(root: etree._Element) -> list[FieldError]:
    """Every rule of the CAP 1.2 text broken by ``root`` (beyond its XSD)."""
    errors = list(_alert_rules(root))
    sent = _time(_text(root, "sent"))
    for info in _children(root, "info"):
        errors += _info_rules(info, sent)
    return errors


def _alert_rules(root: etree._Element) -> Iterator[FieldError]:
    for name in ("identifier", "sender"):
        element = root.find(_q(name))
        if element is not None and (not element.text or _FORBIDDEN.search(element.text)):
            yield _error(
                element,
                "characters",
                f"{name} must not be empty or include spaces, commas or the restricted "
                "characters < and &",
                ALERT,
            )
    scope = _text(root, "scope")
    if scope == "Restricted" and not (_text(root, "restriction") or "").strip():
        yield FieldError(
            "alert.restriction", "required", "scope Restricted needs a restriction", ALERT
        )
    if scope == "Private" and not (_text(root, "addresses") or "").strip():
        yield FieldError("alert.addresses", "required", "scope Private needs addresses", ALERT)
    for name in ("addresses", "incidents"):
        element = root.find(_q(name))
        if element is not None and (element.text or "").count('"') % 2:
            yield _error(
                element,
                "quoting",
                f"{name} has an unbalanced double quote (multi-word entries are enclosed in "
                "double quotes)",
                ALERT,
            )
    yield from _reference_rules(root)


def _reference_rules(root: etree._Element) -> Iterator[FieldError]:
    element = root.find(_q("references"))
    msg_type = _text(root, "msgType")
    if element is None:
        if msg_type in ("Update", "Cancel", "Ack", "Error"):
            yield FieldError(
                "alert.references",
                "required",
                f"a {msg_type} message must reference the message(s) it "
                f"{_VERBS[msg_type]} (sender,identifier,sent)",
                ALERT,
            )
        return
    for index, triple in enumerate((element.text or "").split()):
        problem = triple_problem(triple)
        if problem:
            yield FieldError(f"alert.references[{index}]", "format", problem, ALERT)
    if not (element.text or "").split():
        yield _error(element, "format", "references is empty", ALERT)


_VERBS = {"Update": "supersedes", "Cancel": "cancels", "Ack": "acknowledges", "Error": "rejects"}


def triple_problem(triple: str) -> str | None:
    """Why ``triple`` is not ``sender,identifier,sent`` (CAP 1.2 §3.2.1 references)."""
    parts = triple.split(",")
    if len(parts) != 3 or not all(parts):
        return f"{triple[:80]!r} is not a sender,identifier,sent triple"
    if not _CAP_TIME.match(parts[2]):
        return (
            f"{parts[2]!r} in {triple[:80]!r} is not a CAP date-time such as "
            "2026-12-03T09:00:00-00:00"
        )
    try:
        parse_cap_time(parts[2])
    except ValueError:
        return f"{parts[2]!r} is not a valid date-time"
    return None


def read_references(text: str | None) -> tuple[Reference, ...]:
    """The triples of a ``references`` text that ``rule_errors`` accepted."""
    out = []
    for triple in (text or "").split():
        sender, identifier, sent = triple.split(",")
        out.append(Reference(sender, identifier, parse_cap_time(sent)))
    return tuple(out)


def _info_rules(info: etree._Element, sent: datetime | None) -> Iterator[FieldError]:
    language = info.find(_q("language"))
    if language is not None and not _RFC3066.match(language.text or ""):
        yield _error(
            language,
            "rfc3066",
            f"{language.text!r} is not an RFC 3066 language tag such as en-US or vi",
            INFO,
        )
    expires = info.find(_q("expires"))
    expires_at = _time(None if expires is None else expires.text)
    # expires before sent is a mistake (or a replay dressed up); the same second is an
    # all-clear that ends as it is sent (the NWS tsunami cancellation in tests/data/cap)
    if expires is not None and expires_at is not None and sent is not None and expires_at < sent:
        yield _error(expires, "after_sent", f"expires {expires.text} is before sent", INFO)
    for resource in _children(info, "resource"):
        yield from _resource_rules(resource)
    for area in _children(info, "area"):
        yield from _area_rules(area)


def _resource_rules(resource: etree._Element) -> Iterator[FieldError]:
    digest = resource.find(_q("digest"))
    if digest is not None and not _SHA1_HEX.match(digest.text or ""):
        yield _error(digest, "sha1", "digest must be a SHA-1 hash in hexadecimal", RESOURCE)
    deref = resource.find(_q("derefUri"))
    if deref is None:
        return
    try:
        content = base64.b64decode("".join((deref.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        yield _error(deref, "base64", "derefUri must be the resource in base64", RESOURCE)
        return
    if digest is not None and _SHA1_HEX.match(digest.text or ""):
        actual = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        if actual != (digest.text or "").lower():
            yield _error(digest, "digest_matches", "digest is not the SHA-1 of derefUri", RESOURCE)
    size = _text(resource, "size")
    if size is not None and size.strip().isdigit() and int(size) != len(content):
        yield FieldError(
            path_of(resource) + ".size",
            "size_matches",
            f"size is {size} but derefUri holds {len(content)} bytes",
            RESOURCE,
        )


def _area_rules(area: etree._Element) -> Iterator[FieldError]:
    for polygon in _children(area, "polygon"):
        try:
            parse_polygon(polygon.text or "")
        except ValueError as exc:
            yield _error(polygon, "polygon", str(exc), AREA)
    for circle in _children(area, "circle"):
        try:
            parse_circle(circle.text or "")
        except ValueError as exc:
            yield _error(circle, "circle", str(exc), AREA)
    ceiling = area.find(_q("ceiling"))
    if ceiling is not None and area.find(_q("altitude")) is None:
        # CAP 1.2 §3.2.4 ceiling: "MUST NOT be used except in combination with altitude"
        yield _error(ceiling, "with_altitude", "ceiling is only allowed with altitude", AREA)


def reference_errors(root: etree._Element, known: Known) -> list[FieldError]:
    """The references of ``root`` that name no message this node holds (CAP 1.2 §3.2.1)."""
    element = root.find(_q("references"))
    if element is None:
        return []
    errors = []
    for index, triple in enumerate((element.text or "").split()):
        if triple_problem(triple) is not None:
            continue
        (reference,) = read_references(triple)
        if not known(reference):
            errors.append(
                FieldError(
                    f"alert.references[{index}]",
                    "known",
                    f"{triple} names no alert this node holds",
                    ALERT,
                )
            )
    return errors


def profile_errors(root: etree._Element) -> list[FieldError]:
    """Accord's rules for what it sends: expiry stated, exercises named, drafts kept."""
    errors = []
    status, msg_type = _text(root, "status"), _text(root, "msgType")
    if status == "Draft":
        errors.append(
            FieldError(
                "alert.status", "not_draft", "a Draft is not actionable; it is not sent", ALERT
            )
        )
    if msg_type in ("Alert", "Update"):
        infos = _children(root, "info")
        if not infos:
            errors.append(
                FieldError("alert.info", "required", f"an {msg_type} needs an info block", PROFILE)
            )
        for info in infos:
            if info.find(_q("expires")) is None:
                errors.append(
                    FieldError(
                        path_of(info) + ".expires",
                        "required",
                        "say when this warning expires: receivers otherwise act on it forever",
                        PROFILE,
                    )
                )
    return errors


def _time(text: str | None) -> datetime | None:
    if text is None or not _CAP_TIME.match(text):
        return None
    try:
        return parse_cap_time(text)
    except ValueError:
        return None
