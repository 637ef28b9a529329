"""The TAXII 2.1 server of a running node (``accord serve``, uvicorn, loopback) used through
taxii2-client, the OASIS client, for every endpoint and filter; errors are TAXII error
resources; partners read with signed requests and see only what the markings allow."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from accord.intel.markings import TLP2_IDS, Tlp, tlp_definition
from accord.intel.service import INBOX
from intel_fixtures import T, indicator

from .helpers import db_path, query, wait_until
from .intel_nodes import Certs, SignedAs, create

TAXII = "application/taxii+json;version=2.1"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Certs]:
    certs = create(tmp_path_factory.mktemp("taxii"))
    certs.node("vn-cert").start()
    try:
        yield certs
    finally:
        certs.node("vn-cert").stop()


def collection(certs: Certs, auth: Any = None) -> Collection:
    url = f"{certs.url()}api/collections/{certs.collection}/"
    if auth is not None:
        return Collection(url, auth=auth)
    return Collection(url, user="siem", password=certs.token)


def fresh(n: int, count: int = 1, **extra: Any) -> list[dict[str, Any]]:
    base = uuid.uuid4().int % 10_000_000 * 100 + n
    return [indicator(base + i, **extra) for i in range(count)]


def post(certs: Certs, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    url = f"{certs.url()}api/collections/{certs.collection}/objects/"
    headers = {
        "Content-Type": TAXII,
        "Accept": TAXII,
        "Authorization": f"Bearer {certs.token}",
        **(headers or {}),
    }
    return requests.post(url, data=body, headers=headers, timeout=30)


def get(certs: Certs, path: str, **headers: str) -> requests.Response:
    sent = {"Accept": TAXII, "Authorization": f"Bearer {certs.token}", **headers}
    return requests.get(certs.url() + path, headers=sent, timeout=30)


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """A TAXII 2.1 §3.6.1 error resource, in TAXII's media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert set(body) >= {"title", "http_status", "error_code"}
    assert body["http_status"] == str(status)
    return dict(body)


def stored(certs: Certs) -> int:
    return int(
        query(db_path(certs.node("vn-cert")), "SELECT count(*) AS n FROM intel_objects")[0]["n"]
    )


# Discovery, API root, collections ---------------------------------------------------------------


def test_discovery_api_root_and_collections(certs: Certs) -> None:
    server = Server(certs.url(), user="siem", password=certs.token)
    assert server.title.startswith("Accord node vn-cert")
    [root] = server.api_roots
    assert isinstance(root, ApiRoot)
    assert root.versions == [TAXII]
    assert root.max_content_length == 16 * 1024 * 1024
    [fraud, *_] = [c for c in root.collections if c.id == certs.collection]
    assert (fraud.title, fraud.can_read, fraud.can_write) == ("Online fraud", True, True)
    assert fraud.media_types == ["application/stix+json;version=2.1"]


def test_the_unversioned_taxii_media_type_is_accepted(certs: Certs) -> None:
    """Medallion answers 406; TAXII 2.1 §3.2 makes it the latest version."""
    assert get(certs, "", Accept="application/taxii+json").status_code == 200


# Add, status, get objects with every filter -----------------------------------------------------


def test_add_objects_answers_a_status_and_the_objects_come_back_byte_for_byte(certs: Certs) -> None:
    objects = fresh(1, 3)
    texts = [json.dumps(o, indent=1, sort_keys=False) for o in objects]
    body = ('{"objects": [' + ",\n".join(texts) + "]}").encode()
    response = post(certs, body)
    assert response.status_code == 202, response.text
    status = response.json()
    assert (status["status"], status["success_count"], status["failure_count"]) == (
        "complete",
        3,
        0,
    )
    root = ApiRoot(f"{certs.url()}api/", user="siem", password=certs.token)
    assert root.get_status(status["id"]).status == "complete"
    ids = ",".join(o["id"] for o in objects)
    raw = get(certs, f"api/collections/{certs.collection}/objects/?match[id]={ids}")
    for text in texts:
        assert text.encode() in raw.content  # unknown spacing and order kept exactly


def test_paging_with_next_reads_everything_once_in_date_added_order(certs: Certs) -> None:
    objects = fresh(2, 45, labels=["paging-test"])
    collection(certs).add_objects(json.dumps({"objects": objects}))
    ids = ",".join(o["id"] for o in objects)
    seen: list[str] = []
    for page in as_pages(collection(certs).get_objects, per_request=10, id=ids):
        seen += [o["id"] for o in page.get("objects", [])]
    assert seen == [o["id"] for o in objects]


def test_paging_with_added_after_and_the_date_headers_skips_nothing(certs: Certs) -> None:
    objects = fresh(3, 12)
    collection(certs).add_objects(json.dumps({"objects": objects}))
    ids = ",".join(o["id"] for o in objects)
    seen, after = [], None
    while True:
        path = f"api/collections/{certs.collection}/objects/?limit=5&match[id]={ids}"
        response = get(certs, path + (f"&added_after={after}" if after else ""))
        page = response.json().get("objects", [])
        if not page:
            break
        seen += [o["id"] for o in page]
        after = response.headers["X-TAXII-Date-Added-Last"]
        assert response.headers["X-TAXII-Date-Added-First"] <= after
    assert seen == [o["id"] for o in objects]


def test_match_type_id_and_spec_version(certs: Certs) -> None:
    [one] = fresh(4)
    campaign = {
        "type": "campaign",
        "spec_version": "2.1",
        "id": f"campaign--{uuid.uuid4()}",
        "created": T,
        "modified": T,
        "name": "Fake shops",
        "object_marking_refs": [TLP2_IDS[Tlp.GREEN]],
    }
    col = collection(certs)
    col.add_objects(json.dumps({"objects": [one, campaign]}))
    both = f"{one['id']},{campaign['id']}"
    typed = col.get_objects(type="campaign", id=both)["objects"]
    assert [o["id"] for o in typed] == [campaign["id"]]
    assert len(col.get_objects(id=both, spec_version="2.1")["objects"]) == 2
    assert col.get_objects(id=both, spec_version="2.0") == {"more": False}


def test_every_version_is_kept_and_match_version_chooses(certs: Certs) -> None:
    [v1] = fresh(5)
    v2 = {**v1, "modified": "2026-11-25T09:00:00.000Z", "name": "second"}
    v3 = {**v1, "modified": "2026-11-26T09:00:00.000Z", "name": "third"}
    col = collection(certs)
    col.add_objects(json.dumps({"objects": [v1, v3, v2]}))
    oid = v1["id"]
    names = lambda version: [o["name"] for o in col.get_object(oid, version=version)["objects"]]  # noqa: E731
    assert names("last") == ["third"]
    assert names("first") == [v1["name"]]
    assert sorted(names("all")) == sorted([v1["name"], "second", "third"])
    assert names("2026-11-25T09:00:00.000Z") == ["second"]
    assert names("first,2026-11-25T09:00:00.000Z") == [v1["name"], "second"]
    assert col.get_objects(id=oid)["objects"][0]["name"] == "third"  # default: last
    versions = col.object_versions(oid)["versions"]
    assert sorted(versions) == [T, "2026-11-25T09:00:00.000Z", "2026-11-26T09:00:00.000Z"]
    manifest = col.get_manifest(id=oid, version="all")["objects"]
    assert {m["version"] for m in manifest} == set(versions)
    assert {m["media_type"] for m in manifest} == {"application/stix+json;version=2.1"}


def test_a_changed_version_is_refused_and_nothing_is_stored(certs: Certs) -> None:
    [first] = fresh(6)
    collection(certs).add_objects(json.dumps({"objects": [first]}))
    before = stored(certs)
    changed = {**first, "name": "same version, other content"}
    body = error_of(post(certs, json.dumps({"objects": [*fresh(7), changed]}).encode()), 422)
    assert body["details"]["errors"][0]["rule"] == "version_conflict"
    assert stored(certs) == before


def test_delete_an_object_version(certs: Certs) -> None:
    [v1] = fresh(8)
    v2 = {**v1, "modified": "2026-11-25T09:00:00.000Z"}
    col = collection(certs)
    col.add_objects(json.dumps({"objects": [v1, v2]}))
    col.delete_object(v1["id"], version="2026-11-25T09:00:00.000Z")
    assert col.object_versions(v1["id"])["versions"] == [T]
    assert col.get_object(v1["id"])["objects"][0]["modified"] == T  # v1 is the last again
    col.delete_object(v1["id"])
    with pytest.raises(requests.HTTPError) as caught:
        col.get_object(v1["id"])
    assert caught.value.response.status_code == 404


# Errors: TAXII error resources, nothing stored --------------------------------------------------


def test_a_request_without_credentials_gets_a_taxii_401(certs: Certs) -> None:
    response = requests.get(certs.url(), headers={"Accept": TAXII}, timeout=30)
    body = error_of(response, 401)
    assert "Basic" in response.headers["WWW-Authenticate"]
    assert body["error_code"] == "intel_unauthorized"


def test_a_wrong_token_is_refused(certs: Certs) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        Server(certs.url(), user="siem", password="accord_not-a-token").refresh()
    assert caught.value.response.status_code == 401


def test_an_unacceptable_accept_gets_406_and_a_wrong_content_type_415(certs: Certs) -> None:
    error_of(get(certs, "", Accept="application/xml"), 406)
    body = error_of(post(certs, b"{}", {"Content-Type": "application/json"}), 415)
    assert "TAXII 2.1" in body["description"]


def test_an_oversized_bundle_gets_413_and_nothing_is_stored(certs: Certs) -> None:
    before = stored(certs)
    body = b'{"objects": [' + b" " * (16 * 1024 * 1024) + b"]}"
    error_of(post(certs, body), 413)
    assert stored(certs) == before


def test_ten_thousand_objects_in_one_post_are_refused_and_nothing_is_stored(certs: Certs) -> None:
    before = stored(certs)
    body = error_of(post(certs, json.dumps({"objects": fresh(9, 10_000)}).encode()), 422)
    assert body["details"]["errors"][0]["rule"] == "max_objects"
    assert stored(certs) == before


def test_an_invalid_object_is_refused_naming_id_property_and_section(certs: Certs) -> None:
    before = stored(certs)
    [good] = fresh(10)
    [bad] = fresh(11)
    bad["pattern"] = "[ipv4-addr:value = ]"
    body = error_of(post(certs, json.dumps({"objects": [good, bad]}).encode()), 422)
    [error] = body["details"]["errors"]
    assert error["field"] == f"{bad['id']}.pattern"
    assert (error["rule"], error["section"]) == ("stix_pattern", "STIX 2.1 §9")
    assert stored(certs) == before


def test_a_forged_next_cursor_is_refused(certs: Certs) -> None:
    response = get(certs, f"api/collections/{certs.collection}/objects/?limit=1")
    cursor = response.json()["next"]
    forged = cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
    body = error_of(
        get(certs, f"api/collections/{certs.collection}/objects/?limit=1&next={forged}"), 400
    )
    assert body["details"]["errors"][0]["rule"] == "forged"


def test_a_next_cursor_from_another_collection_or_query_is_refused(certs: Certs) -> None:
    objects = f"api/collections/{certs.collection}/objects/?limit=1"
    cursor = get(certs, objects).json()["next"]
    other_query = get(certs, f"{objects}&match[type]=indicator&next={cursor}")
    assert error_of(other_query, 400)["details"]["errors"][0]["rule"] == "foreign"
    inbox = get(certs, f"api/collections/{INBOX}/objects/?limit=1&next={cursor}")
    assert error_of(inbox, 400)["details"]["errors"][0]["rule"] == "foreign"


def test_an_unknown_filter_or_path_gets_a_taxii_error(certs: Certs) -> None:
    error_of(get(certs, f"api/collections/{certs.collection}/objects/?match[colour]=red"), 422)
    error_of(get(certs, f"api/collections/{certs.collection}/versions/"), 404)
    error_of(get(certs, "api/collections/no-such-collection/"), 404)


# Partners: signed requests, markings ------------------------------------------------------------


def test_a_partner_reads_with_signed_requests_and_gets_only_what_its_markings_allow(
    certs: Certs,
) -> None:
    amber, red, unmarked = fresh(12, tlp=Tlp.AMBER), fresh(13, tlp=Tlp.RED), fresh(14, tlp=None)
    everything = amber + red + unmarked
    collection(certs).add_objects(json.dumps({"objects": [*everything, tlp_definition(Tlp.AMBER)]}))
    ids = ",".join(o["id"] for o in everything)
    ru = collection(certs, SignedAs(certs.node("ru-cert"), "vn-cert"))
    seen = [o["id"] for o in ru.get_objects(id=ids).get("objects", [])]
    assert seen == [amber[0]["id"]]  # RED was not addressed to ru-cert by name; unmarked: nobody
    sql = "SELECT count(*) AS n FROM audit_records WHERE action = ? AND actor = 'vn-cert'"
    database = db_path(certs.node("vn-cert"))
    wait_until(lambda: query(database, sql, "intel.withheld")[0]["n"], "the withheld audit record")


def test_the_siem_token_without_allow_red_does_not_see_red(certs: Certs) -> None:
    [red] = fresh(15, tlp=Tlp.RED)
    col = collection(certs)
    col.add_objects(json.dumps({"objects": [red]}))
    assert col.get_objects(id=red["id"]) == {"more": False}


def test_a_participant_outside_the_readers_is_forbidden(certs: Certs) -> None:
    za = collection(certs, SignedAs(certs.node("za-cert"), "vn-cert"))
    with pytest.raises(requests.HTTPError) as caught:
        za.get_objects()
    assert caught.value.response.status_code == 403
    assert caught.value.response.json()["error_code"] == "intel_forbidden"


def test_a_partner_writer_adds_objects_with_a_signed_request(certs: Certs) -> None:
    ru = collection(certs, SignedAs(certs.node("ru-cert"), "vn-cert"))
    objects = fresh(16, 2, tlp=Tlp.GREEN, by="ru-cert")
    status = ru.add_objects(json.dumps({"objects": objects}))
    assert status.success_count == 2
    rows = query(
        db_path(certs.node("vn-cert")),
        "SELECT origin FROM intel_objects WHERE stix_id = ?",
        objects[0]["id"],
    )
    assert rows[0]["origin"] == "ru-cert"


def test_a_signed_request_replayed_for_another_path_is_refused(certs: Certs) -> None:
    auth = SignedAs(certs.node("ru-cert"), "vn-cert")
    prepared = requests.Request("GET", certs.url(), headers={"Accept": TAXII}).prepare()
    header = auth(prepared).headers["accord-auth"]
    response = requests.get(
        certs.url() + "api/", headers={"Accept": TAXII, "accord-auth": header}, timeout=30
    )
    error_of(response, 401)


def test_a_status_is_shown_only_to_its_asker(certs: Certs) -> None:
    status = collection(certs).add_objects(json.dumps({"objects": fresh(17)}))
    ru = ApiRoot(f"{certs.url()}api/", auth=SignedAs(certs.node("ru-cert"), "vn-cert"))
    with pytest.raises(requests.HTTPError) as caught:
        ru.get_status(status.id)
    assert caught.value.response.status_code == 404


def test_a_bundle_from_a_non_participant_is_refused_and_nothing_is_stored(certs: Certs) -> None:
    """Signed by a key the directory does not know, claiming a participant it does not list."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: PLC0415

    from accord.clock import SystemClock  # noqa: PLC0415
    from accord.federation.auth import sign_request  # noqa: PLC0415

    before = stored(certs)
    path = f"/taxii2/api/collections/{certs.collection}/objects/"
    header = sign_request(
        participant="xx-cert",
        key=Ed25519PrivateKey.generate(),
        audience="vn-cert",
        method="POST",
        target=path,
        now=SystemClock().now(),
    )
    response = requests.post(
        certs.node("vn-cert").url + path,
        data=json.dumps({"objects": fresh(18)}),
        headers={"Content-Type": TAXII, "Accept": TAXII, "accord-auth": header},
        timeout=30,
    )
    error_of(response, 401)
    assert stored(certs) == before
