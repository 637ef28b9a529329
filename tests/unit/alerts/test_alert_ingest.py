"""Ingesting an external CAP Atom feed served on loopback from real CAP documents (the CAP 1.2
specification's examples and a public NWS alert), signed by the "meteorological service" whose
key the subscriber pinned: verified, checked, de-duplicated, stored and sent on to a group."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from alert_nodes import DDPM, MOH, RPN, alerts, deliver, federation
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accord.alerts import cap, feeds, signature
from accord.alerts.ingest import Feeds
from accord.alerts.xml import parse
from accord.errors import AlertSignatureInvalid, FeedError, InputError
from unit.requests.nodes import Nodes

MET = ec.generate_private_key(ec.SECP256R1())
MET_PEM = (
    MET.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
# 15:30 PDT on 17 June 2003: the thunderstorm warning (A.2) is in force until 16:00
AT = datetime(2003, 6, 17, 22, 30, tzinfo=UTC)
SIGNED = [
    "a1-homeland-security",
    "a2-severe-thunderstorm",
    "a3-earthquake-update",
    "a4-amber-multilingual",
    "tsunami-cancellation",
]


class Site:
    """A loopback HTTP server answering fixed paths (the meteorological service's feed)."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path)
                self.send_response(200 if page is not None else 404)
                self.end_headers()
                self.wfile.write(page or b"")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, documents: dict[str, bytes]) -> str:
        entries = [
            feeds.Entry(f"{self.url}/cap/{name}.xml", name, AT, name, f"/cap/{name}.xml")
            for name in documents
        ]
        self.pages.update({f"/cap/{name}.xml": data for name, data in documents.items()})
        self.pages["/feed.atom"] = feeds.build(
            feed_id=f"{self.url}/feed.atom",
            title="Met service",
            self_url=f"{self.url}/feed.atom",
            author="Met",
            updated=AT,
            entries=entries,
        )
        return f"{self.url}/feed.atom"


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def nodes_2003(tmp_path: Path) -> Iterator[Nodes]:
    for nodes in federation(tmp_path, at=AT):
        for node in nodes.open.values():  # the samples are days old: a month's lifetime
            node.settings = node.settings.model_copy(
                update={"alert_default_lifetime": 30 * 86400.0}
            )
        yield nodes


def _signed(samples: Path, name: str) -> bytes:
    root = parse((samples / f"{name}.xml").read_bytes(), max_bytes=10**6)
    return cap.serialize(signature.sign(root, MET, "met"))


def test_a_signed_feed_is_verified_deduplicated_and_sent_on(
    nodes_2003: Nodes, site: Site, samples: Path
) -> None:
    nodes = nodes_2003
    documents = {name: _signed(samples, name) for name in SIGNED}
    documents["tampered"] = documents["a2-severe-thunderstorm"].replace(
        b"SEVERE THUNDERSTORM WARNING", b"ALL CLEAR"
    )
    documents["unsigned"] = (
        (samples / "a4-amber-multilingual.xml")
        .read_bytes()
        .replace(b"KAR0-0306112239-SW", b"KAR0-forged")
    )
    url = site.publish(documents)
    subscriptions = Feeds(alerts(nodes, DDPM))
    subscriptions.add("met", url, address="asean-russia", key_pem=MET_PEM)
    pulled = asyncio.run(subscriptions.pull("met"))
    assert sorted(pulled.taken) == sorted(
        [
            "KSTO@NWS.NOAA.GOV,KSTO1055887203",
            "trinet@caltech.edu,TRI13970876.2",
            "KARO@CLETS.DOJ.CA.GOV,KAR0-0306112239-SW",
            "wcatwc@noaa.gov,PAAQ-4-mg5a94",
        ]
    )
    reasons = {link.rsplit("/", 1)[1]: reason for link, reason in pulled.refused}
    assert set(reasons) == {"a1-homeland-security.xml", "tampered.xml", "unsigned.xml"}
    assert "expired" in reasons["a1-homeland-security.xml"]
    assert "does not verify" in reasons["tampered.xml"]
    assert "no XML signature" in reasons["unsigned.xml"]
    again = asyncio.run(subscriptions.pull("met"))
    assert (again.taken, again.duplicates) == ([], 4)
    deliver(nodes)
    received = {row.identifier: row for row, _, _ in alerts(nodes, RPN).listed("all")}
    assert set(received) == {
        "KSTO1055887203",
        "TRI13970876.2",
        "KAR0-0306112239-SW",
        "PAAQ-4-mg5a94",
    }
    storm = received["KSTO1055887203"]
    assert (storm.origin, storm.feed, storm.direction) == (DDPM, url, "received")
    assert storm.xml == documents["a2-severe-thunderstorm"]  # the met service's signature intact
    relayed = alerts(nodes, DDPM).show("KSTO1055887203").recipients
    assert sorted(r.participant for r, _ in relayed) == sorted([MOH, RPN, "vn-mps-247"])


def test_a_feed_without_a_pinned_key_is_only_taken_when_trusted_unsigned(
    nodes_2003: Nodes, site: Site, samples: Path
) -> None:
    url = site.publish({"a2": (samples / "a2-severe-thunderstorm.xml").read_bytes()})
    subscriptions = Feeds(alerts(nodes_2003, DDPM))
    with pytest.raises(InputError, match="the subscription is invalid"):
        subscriptions.add("met", url, address="asean-russia", key_pem=None)
    subscriptions.add("met", url, address="asean-russia", key_pem=None, trust_unsigned=True)
    pulled = asyncio.run(subscriptions.pull("met"))
    assert pulled.taken == ["KSTO@NWS.NOAA.GOV,KSTO1055887203"]
    deliver(nodes_2003)
    [(row, _, _)] = alerts(nodes_2003, RPN).listed()
    assert row.feed == url


def test_a_feed_alert_in_a_participants_name_is_refused(
    nodes_2003: Nodes, site: Site, samples: Path
) -> None:
    data = (
        (samples / "a2-severe-thunderstorm.xml")
        .read_bytes()
        .replace(b"KSTO@NWS.NOAA.GOV", MOH.encode())
    )
    root = parse(data, max_bytes=10**6)
    url = site.publish({"spoof": cap.serialize(signature.sign(root, MET, "met"))})
    subscriptions = Feeds(alerts(nodes_2003, DDPM))
    subscriptions.add("met", url, address="asean-russia", key_pem=MET_PEM)
    pulled = asyncio.run(subscriptions.pull("met"))
    [(_, reason)] = pulled.refused
    assert "names the participant vn-moh-ew" in reason


def test_an_unreachable_or_oversized_feed_is_a_recorded_error(
    nodes_2003: Nodes, site: Site
) -> None:
    subscriptions = Feeds(alerts(nodes_2003, DDPM))
    subscriptions.add("met", f"{site.url}/missing.atom", address="asean-russia", key_pem=MET_PEM)
    with pytest.raises(FeedError, match="HTTP 404"):
        asyncio.run(subscriptions.pull("met"))
    assert "HTTP 404" in (subscriptions.get("met").last_error or "")
    site.pages["/big.atom"] = b"<feed>" + b" " * (2 * 1024 * 1024) + b"</feed>"
    subscriptions.add("big", f"{site.url}/big.atom", address="asean-russia", key_pem=MET_PEM)
    with pytest.raises(FeedError, match="over"):
        asyncio.run(subscriptions.pull("big"))


def test_a_pinned_key_that_is_no_key_is_refused(nodes_2003: Nodes, site: Site) -> None:
    with pytest.raises(AlertSignatureInvalid, match="not a PEM public key"):
        Feeds(alerts(nodes_2003, DDPM)).add(
            "met", f"{site.url}/feed.atom", address="asean-russia", key_pem="nonsense"
        )


def test_atom_links_are_resolved_against_the_feed(site: Site) -> None:
    data = feeds.build(
        feed_id="x",
        title="t",
        self_url="x",
        author="a",
        updated=AT,
        entries=[
            feeds.Entry("id", "t", AT, "s", "/cap/one.xml"),
            feeds.Entry("id2", "t", AT, "s", "ftp://x/two.xml"),
        ],
    )
    assert feeds.cap_links(data, feed_url=f"{site.url}/a/feed.atom", max_bytes=10**6) == [
        f"{site.url}/cap/one.xml"
    ]
