"""Bad input to the ``accord`` command gets an error message and exit code 2, never a
traceback, and the attachment names a sender chooses never pick where ``show --save`` writes."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.clock import SystemClock
from accord.demo.federation import LocalFederation
from accord.envelope.core import seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.federation.service import Federation
from accord.identity.directory import draft_bytes
from accord.identity.models import DirectoryDocument, StewardSet
from accord.jose import public_jwk

from .helpers import RU, VN, Accord, refused

HOSTILE_NAMES = ["..", "a\0b", "../../escape.txt", ".", "report.pdf"]


def _attachment(name: str, data: bytes) -> dict[str, object]:
    return {
        "name": name,
        "media_type": "application/octet-stream",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode(),
    }


def _receive_hostile_message(federation: LocalFederation) -> str:
    """ru-gp-ca holds a message from vn-mps-247 whose attachment names try to escape."""
    vn, ru = federation.nodes[VN.id].open(), federation.nodes[RU.id].open()
    try:
        now = vn.clock.now()
        routing = Routing(new_message_id(now), VN.id, (RU.id,), now, Priority.ROUTINE)
        attachments = [_attachment(n, f"content {i}".encode()) for i, n in enumerate(HOSTILE_NAMES)]
        wire = seal(
            routing=routing,
            kind=Kind.NOTE,
            body={"subject": "files", "text": "see attached", "attachments": attachments},
            signing_key=vn.keys.signing,
            recipient_keys={RU.id: Federation(vn).directory().encryption_key(RU.id)},
            max_bytes=vn.settings.max_message_bytes,
        )
        Federation(ru).receive(wire)
    finally:
        vn.close()
        ru.close()
    return routing.message_id


def _draft(path: Path) -> Path:
    now = SystemClock().now()
    key = public_jwk(Ed25519PrivateKey.generate().public_key(), "steward-1")
    document = DirectoryDocument(
        federation="hanoi-test",
        version=1,
        issued_at=now,
        expires_at=now + timedelta(days=1),
        stewards=StewardSet(keys=(key,), threshold=1),
    )
    path.write_bytes(draft_bytes(document))
    return path


def test_bad_input_gets_a_message_not_a_traceback(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path / "nodes", [VN, RU], {"pair": (VN.id, RU.id)})
    message_id = _receive_hostile_message(federation)
    accord = Accord(tmp_path, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    taken = tmp_path / "taken.pem"
    taken.write_text("an existing file")
    (tmp_path / "not-json.pub.json").write_text("-----BEGIN PUBLIC KEY-----")
    draft = _draft(tmp_path / "draft.json")
    drafted = draft.read_bytes()
    saved = tmp_path / "a" / "b" / "saved"

    overwrite, not_json, bad_group, card, show = accord.many(
        ["directory", "steward-key", "--out", str(taken), "--kid", "steward-9"],
        ["directory", "new", "--out", "d.json", "--federation", "f",
         "--stewards", "not-json.pub.json", "--threshold", "1"],
        ["directory", "group", str(draft), "g1", "--members", "Not A Slug"],
        ["card", "export", "--dir", str(federation.nodes[VN.id].home), "--out", "no/such/card"],
        ["show", message_id, "--save", str(saved), "--dir", str(federation.nodes[RU.id].home)],
    )  # fmt: skip

    refused(overwrite, "taken.pem already exists")
    assert taken.read_text() == "an existing file"
    assert not (tmp_path / "taken.pem.pub.json").exists()
    refused(not_json, "not-json.pub.json is not JSON")
    assert not (tmp_path / "d.json").exists()
    refused(bad_group, "invalid group 'g1'", "lowercase slug")
    assert draft.read_bytes() == drafted
    refused(card, "cannot write no/such/card")
    assert show.code == 0, show
    files = {path.name: path.read_bytes() for path in saved.iterdir()}
    assert files == {
        "attachment-1": b"content 0",
        "attachment-2": b"content 1",
        "escape.txt": b"content 2",
        "attachment-4": b"content 3",
        "report.pdf": b"content 4",
    }
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert not [
        p for p in written if "escape" in p.name and p.parent != saved.relative_to(tmp_path)
    ]
