"""Reading XML that comes from outside, safely, and checking it against the OASIS CAP 1.2 XSD.

Every CAP document and feed is read by :func:`parse`: its size is checked before parsing; a
document type declaration (the carrier of XXE and "billion laughs") is refused outright, never
expanded; no entity is resolved, nothing is fetched from the network, and libxml2's limits on
huge trees stay on. The XSD is the one OASIS publishes, shipped in ``schema/``.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from accord.alerts.models import NS
from accord.errors import AlertInvalid, FieldError

SCHEMA_FILE = Path(__file__).parent / "schema" / "CAP-v1.2-schema.xsd"
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Elements that may repeat: their place among their siblings is part of the path
REPEATED = frozenset(
    {
        "code",
        "info",
        "category",
        "responseType",
        "eventCode",
        "parameter",
        "resource",
        "area",
        "polygon",
        "circle",
        "geocode",
    }
)
_local = threading.local()  # an lxml parser or validator is used by one thread at a time


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 XSD, compiled once per thread."""
    compiled: etree.XMLSchema | None = getattr(_local, "schema", None)
    if compiled is None:
        compiled = etree.XMLSchema(etree.parse(str(SCHEMA_FILE), _parser()))
        _local.schema = compiled
    return compiled


def parse(data: bytes, *, max_bytes: int, what: str = "CAP document") -> etree._Element:
    """The root element of ``data``; AlertInvalid when it is too large, declares a document
    type, or is not well-formed XML."""
    if len(data) > max_bytes:
        raise _refused(what, f"is {len(data)} bytes, over the {max_bytes} byte limit", "size")
    if _DOCTYPE.search(data):
        raise _refused(
            what,
            "declares a document type or entities, which CAP never needs (XXE, entity expansion)",
            "no_doctype",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise _refused(what, f"is not well-formed XML: {exc.msg}", "well_formed") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:  # an encoding the scan missed
        raise _refused(what, "declares a document type, which CAP never needs", "no_doctype")
    return root


def xsd_errors(root: etree._Element) -> list[FieldError]:
    """What the OASIS CAP 1.2 XSD finds wrong in ``root``, every error, each with its path."""
    if root.tag != f"{{{NS}}}alert":
        return [
            FieldError(
                "alert",
                "root_element",
                f"the root element is {root.tag!s}, not alert in namespace {NS}",
                "CAP 1.2 §3.2.1",
            )
        ]
    validator = schema()
    if validator.validate(root):
        return []
    tree = root.getroottree()
    errors = []
    for entry in validator.error_log:
        found = tree.xpath(entry.path) if entry.path else []
        element = found[0] if isinstance(found, list) and found else root
        if not isinstance(element, etree._Element):
            element = root
        errors.append(
            FieldError(path_of(element), "xsd", _readable(entry.message), section_of(element))
        )
    return errors


def path_of(element: etree._Element) -> str:
    """``alert.info[0].area[1].polygon[0]``: where an element is, as a person reads it."""
    parts = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if name in REPEATED and parent is not None:
            index = [s for s in parent if s.tag == node.tag].index(node)
            name = f"{name}[{index}]"
        parts.append(name)
        node = parent
    return ".".join(reversed(parts))


def section_of(element: etree._Element) -> str:
    """The section of the CAP 1.2 data dictionary that defines ``element``."""
    names = {etree.QName(e).localname for e in (element, *element.iterancestors())}
    if "resource" in names:
        return "CAP 1.2 §3.2.3"
    if "area" in names:
        return "CAP 1.2 §3.2.4"
    if "info" in names:
        return "CAP 1.2 §3.2.2"
    return "CAP 1.2 §3.2.1"


def _readable(message: str) -> str:
    message = re.sub(r"^Element '[^']*': ", "", message)
    message = message.replace(f"{{{NS}}}", "").replace(
        "{http://www.w3.org/2000/09/xmldsig#}", "ds:"
    )
    return message.rstrip(".")


def _refused(what: str, problem: str, rule: str) -> AlertInvalid:
    message = f"the {what} {problem}"
    return AlertInvalid(
        message,
        advice="Send one CAP 1.2 alert document (UTF-8 XML, no DOCTYPE).",
        errors=[FieldError("document", rule, message, "CAP 1.2 §3.4")],
    )
