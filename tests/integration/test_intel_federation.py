"""Intel between running nodes: a share under TLP:AMBER reaches the group with the
originator's grant, a sighting flows back to the producer, passing the object outside the
audience is refused and audited on every hop, and a subscription syncs a partner's collection
with the filter applied by the partner, resuming from its cursor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from accord.errors import SharingRefused, SyncFailed
from accord.federation.service import Federation
from accord.intel import sync
from accord.intel.markings import Tlp
from accord.intel.service import INBOX, Intel
from intel_fixtures import T, bundle, indicator

from .helpers import db_path, query, start_all, wait_until
from .intel_nodes import Certs, create, opened

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certs]:
    certs = create(tmp_path_factory.mktemp("intel-federation"))
    start_all(certs.federation.nodes.values())
    try:
        yield certs
    finally:
        certs.federation.stop()


def in_inbox(certs: Certs, pid: str, stix_id: str) -> list[Any]:
    sql = (
        "SELECT o.origin, o.tlp FROM intel_objects o JOIN intel_collections c"
        " ON c.id = o.collection WHERE c.alias = ? AND o.stix_id = ?"
    )
    return query(db_path(certs.node(pid)), sql, INBOX, stix_id)


def audited(certs: Certs, pid: str, action: str) -> int:
    return int(
        query(
            db_path(certs.node(pid)),
            "SELECT count(*) AS n FROM audit_records WHERE action = ?",
            action,
        )[0]["n"]
    )


def add_on(
    certs: Certs, pid: str, objects: list[dict[str, Any]], collection: str | None = None
) -> None:
    with opened(certs.node(pid)) as node:
        intel = Intel(Federation(node))
        intel.add(collection or intel.inbox().id, bundle(objects), asker=node.id)


def test_an_amber_share_reaches_the_group_and_the_sighting_flows_back(certs: Certs) -> None:
    [campaign_ioc] = [indicator(9001, tlp=Tlp.AMBER, by="vn-cert")]
    add_on(certs, "vn-cert", [campaign_ioc])
    with opened(certs.node("vn-cert")) as node:
        Intel(Federation(node)).share([campaign_ioc["id"]], "asean-russia")
    wait_until(lambda: in_inbox(certs, "ru-cert", campaign_ioc["id"]), "ru-cert to hold the share")
    assert not in_inbox(certs, "za-cert", campaign_ioc["id"])
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--6b2f5bcd-1d10-4f8f-8d0c-1b7f3a5e9c01",
        "created": T,
        "modified": T,
        "sighting_of_ref": campaign_ioc["id"],
        "count": 4,
        "object_marking_refs": [indicator(0, tlp=Tlp.AMBER)["object_marking_refs"][0]],
    }
    with opened(certs.node("ru-cert")) as node:
        Intel(Federation(node)).report_sighting(json.dumps(sighting).encode())
    wait_until(lambda: in_inbox(certs, "vn-cert", sighting["id"]), "the sighting at the producer")
    assert in_inbox(certs, "vn-cert", sighting["id"])[0]["origin"] == "ru-cert"


def test_passing_it_outside_the_audience_is_refused_and_audited(certs: Certs) -> None:
    [ioc] = [indicator(9002, tlp=Tlp.AMBER, by="vn-cert")]
    add_on(certs, "vn-cert", [ioc])
    with opened(certs.node("vn-cert")) as node:
        Intel(Federation(node)).share([ioc["id"]], "asean-russia")
    wait_until(lambda: in_inbox(certs, "ru-cert", ioc["id"]), "ru-cert to hold it")
    before = audited(certs, "ru-cert", "intel.share_refused")
    with (
        opened(certs.node("ru-cert")) as node,
        pytest.raises(SharingRefused, match="za-cert may not hold"),
    ):
        Intel(Federation(node)).share([ioc["id"]], "za-cert")
    assert audited(certs, "ru-cert", "intel.share_refused") == before + 1
    assert not in_inbox(certs, "za-cert", ioc["id"])


def test_a_red_object_re_shared_is_refused_by_the_receiver_too(certs: Certs) -> None:
    """A node that skips its own check is stopped by the next hop: za-cert checks ru-cert's
    share against vn-cert's grant and refuses it, audited, nothing stored."""
    [red] = [indicator(9003, tlp=Tlp.RED, by="vn-cert")]
    add_on(certs, "vn-cert", [red])
    with opened(certs.node("vn-cert")) as node:
        Intel(Federation(node)).share([red["id"]], "ru-cert")
    wait_until(lambda: in_inbox(certs, "ru-cert", red["id"]), "ru-cert to hold it")
    with opened(certs.node("ru-cert")) as node:
        intel = Intel(Federation(node))
        [(row, _)] = intel.held([red["id"]])
        from accord.intel.store import grant_tokens  # noqa: PLC0415

        with node.read_engine.connect() as connection:
            tokens = list(grant_tokens(connection, [row.grant_sha256 or ""]).values())
        body = {"grants": tokens, "objects": [row.raw.decode()]}
        from accord.envelope.models import Kind  # noqa: PLC0415

        message = Federation(node).send("za-cert", Kind.INTEL_SHARE, body)
    sql = "SELECT state, last_error FROM deliveries WHERE message_id = ?"
    failed = wait_until(
        lambda: [
            r
            for r in query(db_path(certs.node("ru-cert")), sql, message)
            if r["state"] in ("failed", "retrying")
        ],
        "za-cert to refuse the re-share",
    )
    assert "only its originator" in (failed[0]["last_error"] or "")
    wait_until(lambda: audited(certs, "za-cert", "intel.share_refused"), "za-cert's refusal record")
    assert not in_inbox(certs, "za-cert", red["id"])


def test_a_subscription_syncs_with_the_partners_filter_and_resumes(certs: Certs) -> None:
    green = [indicator(9100 + i, tlp=Tlp.GREEN, by="vn-cert") for i in range(25)]
    amber = [indicator(9200 + i, tlp=Tlp.AMBER, by="vn-cert") for i in range(5)]
    add_on(certs, "vn-cert", green + amber, collection=certs.collection)
    with opened(certs.node("ru-cert")) as node:
        intel = Intel(Federation(node))
        sub = sync.subscribe(
            intel,
            "vn-cert",
            "fraud",
            into=None,
            types=("indicator",),
            labels=("online-fraud",),
            markings=("green",),
            added_after=None,
        )
        seen: list[tuple[int, int | None]] = []
        stored = asyncio.run(sync.pull(intel, sub, lambda n, t: seen.append((n, t)), limit=10))
        assert stored >= 25
        assert seen[0][1] is not None  # the partner counted what was left: an ETA is possible
        again = asyncio.run(sync.pull(intel, sync.find(intel, sub.id), lambda n, t: None, limit=10))
        assert again == 0  # resumed after the last page: nothing twice
    for ioc in green:
        assert in_inbox(certs, "ru-cert", ioc["id"])
    for ioc in amber:  # the partner's filter kept them back
        assert not in_inbox(certs, "ru-cert", ioc["id"])
    assert audited(certs, "ru-cert", "intel.synced") >= 3


def test_a_participant_outside_the_collection_cannot_subscribe(certs: Certs) -> None:
    with opened(certs.node("za-cert")) as node:
        intel = Intel(Federation(node))
        sub = sync.subscribe(
            intel, "vn-cert", "fraud", into=None, types=(), labels=(), markings=(), added_after=None
        )
        with pytest.raises(SyncFailed, match="403"):
            asyncio.run(sync.pull(intel, sub, lambda n, t: None))


def test_a_misp_instance_pulls_the_collection_as_a_feed(certs: Certs) -> None:
    from pymisp import MISPEvent  # noqa: PLC0415

    from accord.intel import misp  # noqa: PLC0415

    made = MISPEvent()
    made.info = "Fake shop payment hosts"
    made.distribution = 1
    made.add_tag("tlp:green")
    made.add_attribute("domain", "pay.shop-deals-2026.example", to_ids=True)
    with opened(certs.node("vn-cert")) as node:
        Intel(Federation(node)).add(
            certs.collection, misp.to_stix(made.to_json().encode()), asker=node.id
        )
    base = f"{certs.node('vn-cert').url}/misp/v1/feeds/fraud"
    headers = {"Authorization": f"Bearer {certs.token}"}
    manifest = requests.get(f"{base}/manifest.json", headers=headers, timeout=30)
    assert manifest.status_code == 200, manifest.text
    assert manifest.json()[made.uuid]["info"] == made.info
    pulled = requests.get(f"{base}/{made.uuid}.json", headers=headers, timeout=30).json()["Event"]
    assert {a["value"] for a in pulled["Attribute"]} == {"pay.shop-deals-2026.example"}
    assert "tlp:green" in {t["name"] for t in pulled["Tag"]}
    assert requests.get(f"{base}/manifest.json", timeout=30).status_code == 401


def test_a_sync_cut_off_mid_way_resumes_after_the_partner_restarts(certs: Certs) -> None:
    """The subscriber stops after its first page (as if killed); the partner restarts; the
    next sync goes on from the stored cursor: everything once, nothing twice."""
    objects = [indicator(9500 + i, tlp=Tlp.GREEN, by="vn-cert") for i in range(30)]
    add_on(certs, "vn-cert", objects, collection=certs.collection)

    class Cut(Exception):
        pass

    def cut(_done: int, _total: int | None) -> None:
        raise Cut

    with opened(certs.node("ru-cert")) as node:
        intel = Intel(Federation(node))
        into = intel.create_collection("Resumed", alias="resumed")
        sub = sync.subscribe(
            intel,
            "vn-cert",
            "fraud",
            into="resumed",
            types=(),
            labels=(),
            markings=("green",),
            added_after=None,
        )
        with pytest.raises(Cut):
            asyncio.run(sync.pull(intel, sub, cut, limit=10))
        first = sync.find(intel, sub.id)
        assert first.cursor is not None
        assert first.synced == 10
        certs.node("vn-cert").stop()
        certs.node("vn-cert").start()
        rest = asyncio.run(sync.pull(intel, first, lambda _n, _t: None, limit=10))
        assert sync.find(intel, sub.id).synced == first.synced + rest
    sql = "SELECT stix_id, count(*) AS n FROM intel_objects WHERE collection = ? GROUP BY stix_id"
    held = {r["stix_id"]: r["n"] for r in query(db_path(certs.node("ru-cert")), sql, into.id)}
    assert set(held) >= {ioc["id"] for ioc in objects}
    assert set(held.values()) == {1}
