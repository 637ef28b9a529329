"""Atom feeds of CAP alerts (RFC 4287), the form alert hubs publish and read (pure).

A node's feed lists its active public alerts, each entry linking its CAP document at a stable
URL (``rel="alternate"``, ``type="application/cap+xml"``); reading a feed yields those links,
resolved against the feed's address. Exercise feeds carry EXERCISE in every title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from accord.alerts.xml import parse
from accord.errors import AlertInvalid, FeedError

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
ATOM_MEDIA_TYPE = "application/atom+xml"
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Entry:
    id: str  # an IRI that never changes (RFC 4287 §4.2.6): the CAP document's URL
    title: str
    updated: datetime
    summary: str
    link: str
    categories: tuple[str, ...] = ()


def _a(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _rfc3339(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    author: str,
    updated: datetime,
    entries: Sequence[Entry],
) -> bytes:
    """An Atom 1.0 feed document (RFC 4287 §4.1.1: id, title, updated, author; a self link)."""
    feed = etree.Element(_a("feed"), nsmap={None: ATOM_NS})
    etree.SubElement(feed, _a("id")).text = feed_id
    etree.SubElement(feed, _a("title")).text = title
    etree.SubElement(feed, _a("updated")).text = _rfc3339(updated)
    etree.SubElement(etree.SubElement(feed, _a("author")), _a("name")).text = author
    etree.SubElement(feed, _a("link"), rel="self", href=self_url, type=ATOM_MEDIA_TYPE)
    for item in entries:
        entry = etree.SubElement(feed, _a("entry"))
        etree.SubElement(entry, _a("id")).text = item.id
        etree.SubElement(entry, _a("title")).text = item.title
        etree.SubElement(entry, _a("updated")).text = _rfc3339(item.updated)
        etree.SubElement(entry, _a("summary")).text = item.summary
        # RFC 4287 §4.1.2: an entry without content links its alternate
        etree.SubElement(entry, _a("link"), rel="alternate", type=CAP_MEDIA_TYPE, href=item.link)
        for term in item.categories:
            etree.SubElement(entry, _a("category"), term=term)
    etree.indent(feed, space="  ")
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8")


def cap_links(data: bytes, *, feed_url: str, max_bytes: int) -> list[str]:
    """The CAP documents an Atom feed links, as absolute http(s) URLs, in feed order."""
    try:
        root = parse(data, max_bytes=max_bytes, what="CAP feed")
    except AlertInvalid as exc:
        raise FeedError(
            f"{feed_url} is not a readable feed: {exc}", advice="Check the feed URL."
        ) from exc
    if root.tag != _a("feed"):
        raise FeedError(
            f"{feed_url} is not an Atom feed (root element {root.tag!s})",
            advice="Subscribe to the feed's Atom (RFC 4287) address.",
        )
    links = []
    for entry in root.findall(_a("entry"))[:MAX_ENTRIES]:
        link = _cap_link(entry)
        if link is not None:
            url = urljoin(feed_url, link)
            if urlsplit(url).scheme in ("http", "https"):
                links.append(url)
    return links


def _cap_link(entry: etree._Element) -> str | None:
    """The entry's CAP link: ``type="application/cap+xml"`` first, else its alternate."""
    found = entry.findall(_a("link"))
    typed = [link.get("href") for link in found if link.get("type") == CAP_MEDIA_TYPE]
    alternate = [link.get("href") for link in found if link.get("rel", "alternate") == "alternate"]
    for href in (*typed, *alternate):
        if href:
            return href
    return None
