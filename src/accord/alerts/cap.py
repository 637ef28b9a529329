"""CAP 1.2 XML to records and back, behind one check: the OASIS XSD plus the rules of the text.

``load`` is the only way from bytes to an :class:`Alert`: it parses safely, collects every
XSD and rule problem at once (a rule's clear message replaces the XSD's for the same element),
and reads the record only from a document with none. ``to_xml`` writes the elements in the
XSD's order, so whatever Accord writes is read back to the same record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from lxml import etree

from accord.alerts import rules
from accord.alerts.models import (
    NS,
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    ValuePair,
    cap_time,
    parse_cap_time,
)
from accord.alerts.xml import parse, xsd_errors
from accord.errors import AlertInvalid, FieldError

ADVICE = "Correct each element listed; the section of CAP 1.2 is given with each."


def problems(
    root: etree._Element, *, known: rules.Known | None = None, profile: bool = False
) -> list[FieldError]:
    """Every problem of ``root``: XSD, the rules of the text, references this node does not
    hold (with ``known``), and Accord's profile for what it sends (with ``profile``)."""
    found = rules.rule_errors(root)
    if profile:
        found += rules.profile_errors(root)
    if known is not None:
        found += rules.reference_errors(root, known)
    ruled = {error.field for error in found}
    return [e for e in xsd_errors(root) if e.field not in ruled] + found


def check(
    root: etree._Element, *, known: rules.Known | None = None, profile: bool = False
) -> Alert:
    """The record of a valid document; AlertInvalid listing every problem otherwise."""
    found = problems(root, known=known, profile=profile)
    if found:
        raise AlertInvalid(
            f"the alert breaks {len(found)} rule(s) of CAP 1.2", advice=ADVICE, errors=found
        )
    return read(root)


def load(data: bytes, *, max_bytes: int, known: rules.Known | None = None) -> Alert:
    return check(parse(data, max_bytes=max_bytes), known=known)


# XML -> record (only after the checks) ----------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _opt(element: etree._Element, name: str) -> str | None:
    child = element.find(_q(name))
    return None if child is None else (child.text or "")


def _req(element: etree._Element, name: str) -> str:
    return _opt(element, name) or ""


def _all(element: etree._Element, name: str) -> tuple[str, ...]:
    return tuple(child.text or "" for child in element.findall(_q(name)))


def _pairs(element: etree._Element, name: str) -> tuple[ValuePair, ...]:
    return tuple(
        ValuePair(_req(child, "valueName"), _req(child, "value"))
        for child in element.findall(_q(name))
    )


def read(root: etree._Element) -> Alert:
    return Alert(
        identifier=_req(root, "identifier"),
        sender=_req(root, "sender"),
        sent=parse_cap_time(_req(root, "sent")),
        status=Status(_req(root, "status")),
        msg_type=MsgType(_req(root, "msgType")),
        scope=Scope(_req(root, "scope")),
        source=_opt(root, "source"),
        restriction=_opt(root, "restriction"),
        addresses=_opt(root, "addresses"),
        codes=_all(root, "code"),
        note=_opt(root, "note"),
        references=rules.read_references(_opt(root, "references")),
        incidents=_opt(root, "incidents"),
        infos=tuple(_info(info) for info in root.findall(_q("info"))),
    )


def _time(element: etree._Element, name: str) -> datetime | None:
    text = _opt(element, name)
    return None if text is None else parse_cap_time(text)


def _info(info: etree._Element) -> Info:
    return Info(
        language=_opt(info, "language"),
        categories=tuple(Category(c) for c in _all(info, "category")),
        event=_req(info, "event"),
        response_types=tuple(ResponseType(r) for r in _all(info, "responseType")),
        urgency=Urgency(_req(info, "urgency")),
        severity=Severity(_req(info, "severity")),
        certainty=Certainty(_req(info, "certainty")),
        audience=_opt(info, "audience"),
        event_codes=_pairs(info, "eventCode"),
        effective=_time(info, "effective"),
        onset=_time(info, "onset"),
        expires=_time(info, "expires"),
        sender_name=_opt(info, "senderName"),
        headline=_opt(info, "headline"),
        description=_opt(info, "description"),
        instruction=_opt(info, "instruction"),
        web=_opt(info, "web"),
        contact=_opt(info, "contact"),
        parameters=_pairs(info, "parameter"),
        resources=tuple(_resource(r) for r in info.findall(_q("resource"))),
        areas=tuple(_area(a) for a in info.findall(_q("area"))),
    )


def _resource(resource: etree._Element) -> Resource:
    size = _opt(resource, "size")
    return Resource(
        resource_desc=_req(resource, "resourceDesc"),
        mime_type=_req(resource, "mimeType"),
        size=None if size is None else int(size),
        uri=_opt(resource, "uri"),
        deref_uri=_opt(resource, "derefUri"),
        digest=_opt(resource, "digest"),
    )


def _area(area: etree._Element) -> Area:
    altitude, ceiling = _opt(area, "altitude"), _opt(area, "ceiling")
    return Area(
        area_desc=_req(area, "areaDesc"),
        polygons=_all(area, "polygon"),
        circles=_all(area, "circle"),
        geocodes=_pairs(area, "geocode"),
        altitude=None if altitude is None else Decimal(altitude.strip()),
        ceiling=None if ceiling is None else Decimal(ceiling.strip()),
    )


# record -> XML ----------------------------------------------------------------------------------


def to_element(alert: Alert) -> etree._Element:
    """The ``alert`` element, in the XSD's order (CAP 1.2 §3.4), unsigned."""
    root = etree.Element(_q("alert"), nsmap={None: NS})
    _put(root, "identifier", alert.identifier)
    _put(root, "sender", alert.sender)
    _put(root, "sent", cap_time(alert.sent))
    _put(root, "status", alert.status.value)
    _put(root, "msgType", alert.msg_type.value)
    _put(root, "source", alert.source)
    _put(root, "scope", alert.scope.value)
    _put(root, "restriction", alert.restriction)
    _put(root, "addresses", alert.addresses)
    _put_all(root, "code", alert.codes)
    _put(root, "note", alert.note)
    if alert.references:
        _put(root, "references", " ".join(r.text() for r in alert.references))
    _put(root, "incidents", alert.incidents)
    for info in alert.infos:
        _put_info(etree.SubElement(root, _q("info")), info)
    return root


def to_xml(alert: Alert) -> bytes:
    return serialize(to_element(alert))


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _put(parent: etree._Element, name: str, value: str | None) -> None:
    if value is not None:
        etree.SubElement(parent, _q(name)).text = value


def _put_all(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    for value in values:
        _put(parent, name, value)


def _put_pairs(parent: etree._Element, name: str, pairs: Iterable[ValuePair]) -> None:
    for pair in pairs:
        element = etree.SubElement(parent, _q(name))
        _put(element, "valueName", pair.value_name)
        _put(element, "value", pair.value)


def _put_info(element: etree._Element, info: Info) -> None:
    _put(element, "language", info.language)
    _put_all(element, "category", (c.value for c in info.categories))
    _put(element, "event", info.event)
    _put_all(element, "responseType", (r.value for r in info.response_types))
    _put(element, "urgency", info.urgency.value)
    _put(element, "severity", info.severity.value)
    _put(element, "certainty", info.certainty.value)
    _put(element, "audience", info.audience)
    _put_pairs(element, "eventCode", info.event_codes)
    for name in ("effective", "onset", "expires"):
        moment = getattr(info, name)
        _put(element, name, None if moment is None else cap_time(moment))
    for name, value in (
        ("senderName", info.sender_name),
        ("headline", info.headline),
        ("description", info.description),
        ("instruction", info.instruction),
        ("web", info.web),
        ("contact", info.contact),
    ):
        _put(element, name, value)
    _put_pairs(element, "parameter", info.parameters)
    for resource in info.resources:
        _put_resource(etree.SubElement(element, _q("resource")), resource)
    for area in info.areas:
        _put_area(etree.SubElement(element, _q("area")), area)


def _put_resource(element: etree._Element, resource: Resource) -> None:
    _put(element, "resourceDesc", resource.resource_desc)
    _put(element, "mimeType", resource.mime_type)
    _put(element, "size", None if resource.size is None else str(resource.size))
    _put(element, "uri", resource.uri)
    _put(element, "derefUri", resource.deref_uri)
    _put(element, "digest", resource.digest)


def _put_area(element: etree._Element, area: Area) -> None:
    _put(element, "areaDesc", area.area_desc)
    _put_all(element, "polygon", area.polygons)
    _put_all(element, "circle", area.circles)
    _put_pairs(element, "geocode", area.geocodes)
    _put(element, "altitude", None if area.altitude is None else str(area.altitude))
    _put(element, "ceiling", None if area.ceiling is None else str(area.ceiling))
