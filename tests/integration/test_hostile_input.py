"""Hostile input against a running node (issue 20's findings and their attack classes): every
input path refuses with the project's signed error shape, changes nothing in the database,
and leaves no traceback in the node's log.

The receiver is a real ``accord serve`` process (ru-gp-ca); vn-mps-247 is opened in this
process so that attacks can be signed with a real participant's key where the attack needs
the signature to hold (a checkpoint whose *signed* tree size has 5,000 digits).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.audit.log import log_origin
from accord.audit.note import NoteSigner, sign_note
from accord.audit.witness import ADD_CHECKPOINT, GOSSIP, format_add_checkpoint
from accord.demo.federation import LocalFederation
from accord.envelope.core import seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.envelope.receipt import REFUSAL_HEADER, verify_refusal
from accord.errors import ReceiptInvalid
from accord.federation.service import Federation
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH
from accord.identity.directory import Directory
from accord.jose import b64url_decode, b64url_encode, dump
from accord.node.home import Node
from accord.requests.api import PREFIX

from .helpers import DEADLINE, ERROR_KEYS, RU, VN, ZA, db_path, snapshot

LIMIT = 1024 * 1024  # the receiver's max_message_bytes: room for 20,001 ids in a header
JOSE = {"content-type": MEDIA_TYPE}


@dataclass
class Target:
    url: str
    database: Path
    log: Path
    token: str
    vn: Node
    directory: Directory

    def seal(self, routing: Routing | None = None, **keys: Any) -> bytes:
        routing = routing or self.routing()
        recipient_keys = keys or {RU.id: self.directory.encryption_key(RU.id)}
        return seal(
            routing=routing,
            kind=Kind.NOTE,
            body={"subject": "Preservation request", "text": "HN-2026-0412"},
            signing_key=self.vn.keys.signing,
            recipient_keys=recipient_keys,
            max_bytes=LIMIT,
        )

    def routing(self, to: tuple[str, ...] = (RU.id,)) -> Routing:
        now = self.vn.clock.now()
        return Routing(new_message_id(now), VN.id, to, now, Priority.ROUTINE)

    def operator(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "content-type": "application/json"}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("hostile"),
        [VN, RU, ZA],
        {"everyone": (VN.id, RU.id, ZA.id)},
        # no timed checkpoint may land between two snapshots: only the input counts here
        settings_toml=f"max_message_bytes = {LIMIT}\ncheckpoint_interval = 86400\n",
    )
    receiver = federation.nodes[RU.id]
    vn = federation.nodes[VN.id].open()
    try:
        receiver.start()
        token = (receiver.home / "operator-token").read_text().strip()
        yield Target(
            receiver.url, db_path(receiver), receiver.home / "serve.log", token, vn,
            Federation(vn).directory(),
        )  # fmt: skip
    finally:
        receiver.kill()
        vn.close()


def refused_cleanly(target: Target, send: Callable[[], httpx.Response], status: int, code: str,
                    says: str = "") -> dict[str, Any]:  # fmt: skip
    """Send, then check: the status and code, the one error shape signed by the node, nothing
    stored, no traceback logged."""
    before = snapshot(target.database)
    log_size = target.log.stat().st_size
    response = send()
    body: dict[str, Any] = response.json()
    assert (response.status_code, body.get("code")) == (status, code), body
    assert set(body) == ERROR_KEYS, body
    assert says in body["message"], body
    signed_by_the_node(target, response)
    assert snapshot(target.database) == before
    logged = target.log.read_bytes()[log_size:]
    assert b"Traceback" not in logged, logged[-2000:]
    assert b"internal error" not in logged, logged[-2000:]
    return body


def signed_by_the_node(target: Target, response: httpx.Response) -> None:
    """The refusal verifies under ru's key, bound to the body it refused (or to nothing when
    it refused before reading the body)."""
    sent = hashlib.sha256(response.request.content).hexdigest()
    key, signature = target.directory.signing_key(RU.id), response.headers.get(REFUSAL_HEADER)
    try:
        verify_refusal(signature, response.content, request_sha256=sent, signer=RU.id, key=key)
    except ReceiptInvalid:
        verify_refusal(signature, response.content, request_sha256="", signer=RU.id, key=key)


# Finding 1: a witness checkpoint with a 5,000-digit tree size -------------------------------

HUGE = "9" * 5000


def signed_checkpoint(target: Target, size_line: str) -> bytes:
    """A checkpoint of vn's log *signed with vn's real key*, with any tree-size line."""
    signer = NoteSigner(log_origin(VN.id), target.vn.keys.signing)
    root = base64.b64encode(bytes(32)).decode()
    return sign_note(f"{signer.name}\n{size_line}\n{root}\n".encode(), signer)


MANY_LINES = "\u2014 x AAAAAAAA\n".encode() * 101
WITNESS_ATTACKS: list[Any] = [
    pytest.param(lambda t: f"old {HUGE}\n\n".encode() + signed_checkpoint(t, "1"),
                 400, "checkpoint_invalid", "over 2^64-1", id="5000_digit_old_size"),
    pytest.param(lambda t: b"old 0\n\n" + signed_checkpoint(t, HUGE),
                 400, "checkpoint_invalid", "over 2^64-1", id="5000_digit_tree_size"),
    pytest.param(lambda t: b"old 0\n\n" + signed_checkpoint(t, "18446744073709551616"),
                 400, "checkpoint_invalid", "over 2^64-1", id="tree_size_2_to_the_64"),
    pytest.param(lambda t: b"old -1\n\n" + signed_checkpoint(t, "1"),
                 400, "checkpoint_invalid", "not a decimal", id="negative_old_size"),
    pytest.param(lambda t: b"old 01\n\n" + signed_checkpoint(t, "1"),
                 400, "checkpoint_invalid", "not a decimal", id="leading_zero_old_size"),
    pytest.param(lambda t: b"old 0\n" + b"AAAA\n" * 64 + b"\n" + signed_checkpoint(t, "1"),
                 400, "checkpoint_invalid", "proof lines", id="64_proof_lines"),
    pytest.param(lambda t: b"old 0\n!!!!\n\n" + signed_checkpoint(t, "1"),
                 400, "checkpoint_invalid", "base64", id="proof_line_not_base64"),
    pytest.param(lambda t: b"old 0\n\n\xff\xfe\n\n",
                 404, "not_found", "no log", id="note_not_utf8"),
    pytest.param(lambda t: b"old 0\n\n" + b"x" * 70_000,
                 413, "payload_too_large", "", id="over_64_kib"),
    pytest.param(lambda t: b"old 0 no blank line",
                 400, "checkpoint_invalid", "must start with", id="no_blank_line"),
    pytest.param(lambda t: b"old 0\n\n" + signed_checkpoint(t, "1")[:-3] + b"\n",
                 403, "checkpoint_untrusted", "not signed", id="signature_cut"),
    pytest.param(lambda t: b"old 0\n\n" + signed_checkpoint(t, "1") + MANY_LINES,
                 403, "checkpoint_untrusted", "signature lines", id="101_signature_lines"),
]  # fmt: skip


@pytest.mark.parametrize(("forge", "status", "code", "says"), WITNESS_ATTACKS)
def test_unauthenticated_add_checkpoint_with_hostile_content_is_refused(
    target: Target, forge: Callable[[Target], bytes], status: int, code: str, says: str
) -> None:
    body = forge(target)
    refused_cleanly(
        target, lambda: httpx.post(target.url + ADD_CHECKPOINT, content=body, timeout=DEADLINE),
        status, code, says,
    )  # fmt: skip


GOSSIP_ATTACKS: list[Any] = [
    pytest.param(lambda t: signed_checkpoint(t, HUGE), 400, "checkpoint_invalid", "over 2^64-1",
                 id="5000_digit_tree_size"),
    pytest.param(lambda t: signed_checkpoint(t, "1")[:-3] + b"\n", 403, "checkpoint_untrusted",
                 "not signed", id="signature_cut"),
    pytest.param(lambda t: b"\xff\xfe\n\n", 404, "not_found", "no log", id="not_utf8"),
    pytest.param(lambda t: b"x" * 70_000, 413, "payload_too_large", "", id="over_64_kib"),
]  # fmt: skip


@pytest.mark.parametrize(("forge", "status", "code", "says"), GOSSIP_ATTACKS)
def test_unauthenticated_gossip_with_hostile_content_is_refused(
    target: Target, forge: Callable[[Target], bytes], status: int, code: str, says: str
) -> None:
    body = forge(target)
    refused_cleanly(
        target, lambda: httpx.post(target.url + GOSSIP, content=body, timeout=DEADLINE),
        status, code, says,
    )  # fmt: skip


def test_witness_checkpoint_with_a_5000_digit_tree_size_is_refused(target: Target) -> None:
    """The finding itself: unauthenticated, the tree size of 5,000 digits, signed by the log."""
    body = format_add_checkpoint(0, [], signed_checkpoint(target, HUGE))
    answer = refused_cleanly(
        target,
        lambda: httpx.post(target.url + ADD_CHECKPOINT, content=body, timeout=DEADLINE),
        400, "checkpoint_invalid", "line 2 (tree size)",
    )  # fmt: skip
    assert "over 2^64-1" in answer["message"]


# Finding 2: JSON nested 200,000 levels, and its class, on every operator route ---------------

DEEP = b"[" * 200_000 + b"]" * 200_000

JSON_ATTACKS: list[Any] = [
    pytest.param(DEEP, "max_depth", id="nested_200000_levels"),
    pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "max_depth", id="nested_objects"),
    pytest.param(b"[" + b"[]," * 300_000 + b"[]]", "max_values", id="300000_empty_arrays"),
    pytest.param(b'{"to":1' + b"0" * 5000 + b"}", "number", id="5000_digit_integer"),
    pytest.param(b'{"to":1e400}', "number", id="float_overflowing_to_infinity"),
    pytest.param(b'{"to":NaN}', "number", id="nan"),
    pytest.param(b'{"to":"a","to":"b"}', "duplicate_member", id="duplicate_member"),
    pytest.param(b'{"to":"\\ud800"}', "unicode", id="lone_surrogate"),
    pytest.param(b'{"to":"\xff"}', "utf8", id="not_utf8"),
    pytest.param(b"\xfe\xff\x00{\x00}", "utf8", id="utf16_with_bom"),
    pytest.param(b'{"to": ', "json", id="truncated"),
    pytest.param(b"[1, 2]", "object", id="top_level_array"),
    pytest.param(b'{"a":[' + b"1," * 20_000 + b"1]}", "max_items", id="20001_items_in_one_array"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "rule"), JSON_ATTACKS)
@pytest.mark.parametrize(
    "route", ["validate", "", "/vn-2026-1/events", "/vn-2026-1/reply", "/vn-2026-1/forward"]
)  # fmt: skip
def test_hostile_json_to_the_operator_api_is_refused(
    target: Target, route: str, content: bytes, rule: str
) -> None:
    path = f"{PREFIX}/{route}" if route == "validate" else PREFIX + route
    started = time.monotonic()
    body = refused_cleanly(
        target,
        lambda: httpx.post(target.url + path, content=content, headers=target.operator(),
                           timeout=DEADLINE),
        422, "input_invalid",
    )  # fmt: skip
    assert rule in {e["rule"] for e in body["errors"]}, body
    assert time.monotonic() - started < DEADLINE


def test_json_nested_200000_levels_to_validate_and_create_is_refused(target: Target) -> None:
    """The finding itself: before, a 500 after about 2.7 s (RecursionError in json.loads)."""
    for path in (f"{PREFIX}/validate", PREFIX):
        body = refused_cleanly(
            target,
            lambda p=path: httpx.post(target.url + p, content=DEEP, headers=target.operator(),
                                      timeout=DEADLINE),
            422, "input_invalid", "nests too deeply",
        )  # fmt: skip
        assert body["errors"][0]["rule"] == "max_depth"


# Finding 3: the envelope in non-canonical forms ---------------------------------------------


def _members(wire: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(wire)
    return value


def duplicate_member(t: Target) -> bytes:
    wire = t.seal()
    iv = _members(wire)["iv"]
    return wire[:-1] + f',"iv":"{iv}"}}'.encode()


def non_canonical_base64url(t: Target) -> bytes:
    """The tag's last character with unused bits set: decodes to the same 16 bytes."""
    document = _members(t.seal())
    tag = document["tag"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    document["tag"] = tag[:-1] + alphabet[alphabet.index(tag[-1]) | 1]
    assert b64url_decode(tag) == base64.urlsafe_b64decode(document["tag"] + "==")
    return dump(document)


def padded_base64url(t: Target) -> bytes:
    document = _members(t.seal())
    document["iv"] += "=="
    return dump(document)


def unknown_top_level_member(t: Target) -> bytes:
    return dump({**_members(t.seal()), "x-relay": "seen"})


def unknown_recipient_entry_member(t: Target) -> bytes:
    document = _members(t.seal())
    document["recipients"][0]["note"] = "hello"
    return dump(document)


def unknown_recipient_header_member(t: Target) -> bytes:
    document = _members(t.seal())
    document["recipients"][0]["header"]["x5u"] = "https://example.org/key"
    return dump(document)


def pretty_printed(t: Target) -> bytes:
    return json.dumps(_members(t.seal()), indent=2, sort_keys=True).encode()


def unsorted_members(t: Target) -> bytes:
    document = _members(t.seal())
    return json.dumps(dict(reversed(document.items())), separators=(",", ":")).encode()


def escaped_characters(t: Target) -> bytes:
    return t.seal().replace(b'"iv"', b'"\\u0069v"')


def trailing_newline(t: Target) -> bytes:
    return t.seal() + b"\n"


def extra_3000_recipient_entries(t: Target) -> bytes:
    document = _members(t.seal())
    document["recipients"] = document["recipients"] + document["recipients"][:1] * 3000
    return dump(document)


def to_20001_ids_not_in_the_directory(t: Target) -> bytes:
    document = _members(t.seal())
    header = json.loads(b64url_decode(document["protected"]))
    header["to"] = [RU.id, *(f"xx-ghost-{i}" for i in range(20_000))]
    document["protected"] = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    return dump(document)


def to_ids_not_in_the_directory(t: Target) -> bytes:
    """A well-formed, validly signed envelope to ru and two ids no directory lists."""
    ghosts = ("xx-ghost-1", "xx-ghost-2")
    keys = {g: X25519PrivateKey.generate().public_key() for g in ghosts}
    return t.seal(t.routing((RU.id, *ghosts)), **{RU.id: t.directory.encryption_key(RU.id)}, **keys)


ENVELOPE_ATTACKS: list[Any] = [
    pytest.param(duplicate_member, "appears twice", id="duplicate_member"),
    pytest.param(non_canonical_base64url, "canonical form", id="non_canonical_base64url"),
    pytest.param(padded_base64url, "iv: not base64url", id="padded_base64url"),
    pytest.param(unknown_top_level_member, "'x-relay' is not part", id="unknown_top_level_member"),
    pytest.param(unknown_recipient_entry_member, "'note' is not part", id="unknown_entry_member"),
    pytest.param(unknown_recipient_header_member, "'x5u' is not part", id="unknown_header_member"),
    pytest.param(pretty_printed, "canonical form", id="pretty_printed_outer_json"),
    pytest.param(unsorted_members, "canonical form", id="unsorted_members"),
    pytest.param(escaped_characters, "canonical form", id="escaped_member_name"),
    pytest.param(trailing_newline, "canonical form", id="trailing_newline"),
    pytest.param(extra_3000_recipient_entries, "3001 entries for 1 addressee",
                 id="3000_extra_recipient_entries"),
    pytest.param(to_20001_ids_not_in_the_directory, "20001 items", id="to_of_20001_unknown_ids"),
]  # fmt: skip


@pytest.mark.parametrize(("forge", "says"), ENVELOPE_ATTACKS)
def test_envelope_in_a_non_canonical_form_is_refused(
    target: Target, forge: Callable[[Target], bytes], says: str
) -> None:
    wire = forge(target)
    body = refused_cleanly(
        target, lambda: httpx.post(target.url + MESSAGES_PATH, content=wire, headers=JOSE,
                                   timeout=DEADLINE),
        400, "envelope_malformed", says,
    )  # fmt: skip
    assert body["errors"], body
    assert body["errors"][0]["rule"], body


def test_envelope_to_ids_the_directory_does_not_list_is_refused(target: Target) -> None:
    wire = to_ids_not_in_the_directory(target)
    body = refused_cleanly(
        target, lambda: httpx.post(target.url + MESSAGES_PATH, content=wire, headers=JOSE,
                                   timeout=DEADLINE),
        400, "recipient_unknown", "2 id(s) not in directory version 1",
    )  # fmt: skip
    assert {e["field"] for e in body["errors"]} == {"protected.to"}


def test_the_canonical_envelope_itself_is_taken(target: Target) -> None:
    """Guards the tests above: what they alter is accepted as sealed."""
    response = httpx.post(target.url + MESSAGES_PATH, content=target.seal(), headers=JOSE,
                          timeout=DEADLINE)  # fmt: skip
    assert response.status_code == 202, response.text


# Finding 4: an empty or malformed bearer token ------------------------------------------------


def raw_request(target: Target, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes an HTTP client library would refuse to send; parse the answer by hand."""
    host, port = target.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


BEARERS: list[Any] = [
    pytest.param(b"Authorization: Bearer\r\n", 401, "bearer", id="empty_token"),
    pytest.param(b"Authorization: Bearer    \r\n", 401, "bearer", id="blank_token"),
    pytest.param(b"Authorization: \r\n", 401, "required", id="empty_header"),
    pytest.param(b"", 401, "required", id="no_header"),
    pytest.param(b"Authorization: Basic dm46eA==\r\n", 401, "bearer", id="basic_scheme"),
    pytest.param(b"Authorization: Bearer x\r\nAuthorization: Bearer y\r\n", 401, "single",
                 id="two_headers"),
    pytest.param(b"Authorization: Bearer \xff\xfe\r\n", 401, "token", id="latin1_bytes"),
    pytest.param(b"Authorization: Bearer \x00\r\n", 400, None, id="nul_byte"),
    pytest.param(b"Authorization: Bearer \x01abc\r\n", 400, None, id="control_character"),
    pytest.param(b"Authorization: Bearer\x7f\r\n", 400, None, id="del_character"),
    pytest.param(b"Authorization : Bearer x\r\n", 400, None, id="space_before_colon"),
    pytest.param(b"Authorization: Bearer a\r\n b\r\n", 400, None, id="obsolete_line_folding"),
    pytest.param(b"Authorization: Bearer " + b"a" * 20_000 + b"\r\n", 431, None,
                 id="token_over_the_head_limit"),
]  # fmt: skip


@pytest.mark.parametrize(("header", "status", "rule"), BEARERS)
def test_empty_or_malformed_bearer_token_gets_the_error_shape(
    target: Target, header: bytes, status: int, rule: str | None
) -> None:
    before = snapshot(target.database)
    head = (
        f"GET {PREFIX} HTTP/1.1\r\nHost: node\r\n".encode() + header + b"Connection: close\r\n\r\n"
    )
    code, headers, content = raw_request(target, head)
    body = json.loads(content)
    assert code == status, content
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == ("operator_token_required" if status == 401 else "http_malformed")
    if rule is not None:
        assert body["errors"] == [
            {"field": "authorization", "rule": rule, "message": body["message"], "article": None}
        ]
        assert headers["www-authenticate"] == 'Bearer realm="accord"'  # RFC 6750 §3
    verify_refusal(
        headers[REFUSAL_HEADER.lower()], content, request_sha256="", signer=RU.id,
        key=target.directory.signing_key(RU.id),
    )  # fmt: skip
    assert snapshot(target.database) == before
