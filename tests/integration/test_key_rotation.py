"""Key rotation between running nodes (issue 20, ADR 0018).

vn-mps-247 rotates its keys (``accord key rotate``); the stewards sign directory version 2
with its new card; every node installs it. From the rotation time on:

- a message signed with vn's old key is refused, one signed with the new key is delivered;
- what ru received before still opens (checked with the key in force when it was signed);
- the evidence package vn sealed before the rotation still verifies, proven by its anchor:
  the seal's audit record in a checkpoint a witness co-signed before the rotation;
- a package sealed with the old key after the rotation, dated before it, is refused: no
  witness co-signed a checkpoint of it in the past (its anchor cannot exist);
- a checkpoint of vn's log signed with the old key is refused by the witnesses, while vn's
  own log, checked with each checkpoint's key, still verifies.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from accord.audit.log import log_origin
from accord.audit.note import Checkpoint, NoteSigner, sign_checkpoint
from accord.audit.witness import ADD_CHECKPOINT, format_add_checkpoint
from accord.clock import SystemClock
from accord.demo.federation import LocalFederation
from accord.envelope.core import seal
from accord.envelope.models import Kind, Priority, Routing, new_message_id
from accord.evidence.models import Acquisition
from accord.evidence.package import Package
from accord.evidence.seal import Sealer, SealOrder, collect
from accord.evidence.seal import seal as seal_package
from accord.federation.transport import MEDIA_TYPE, MESSAGES_PATH
from accord.identity.card import verify_card
from accord.identity.directory import draft_bytes, read_document, sign_directory
from accord.identity.models import DirectoryDocument
from accord.identity.service import DirectoryStore

from .helpers import DEADLINE, RU, VN, ZA, Accord, db_path, query, start_all, wait_until

SETTINGS = "checkpoint_interval = 1\nretry_base = 0.05\nretry_max = 0.5\n"
LEAD = 8.0  # seconds between `accord key rotate` and the rotation time


def _second_directory(federation: LocalFederation, card: bytes) -> bytes:
    """What the stewards do: directory version 2 with vn's new card, signed by 2 of 3."""
    current = read_document(federation.directory)
    rotated = verify_card(card)
    participants = tuple(rotated if p.id == rotated.id else p for p in current.participants)
    document = DirectoryDocument.model_validate(
        {
            **current.model_dump(),
            "version": 2,
            "participants": participants,
            "issued_at": SystemClock().now(),
        }
    )
    signed = draft_bytes(document)
    for kid, key in list(federation.steward_keys.items())[:2]:
        signed = sign_directory(signed, key, kid)
    return signed


def test_rotated_keys_refuse_the_old_key_and_keep_what_was_signed_before(
    tmp_path: Path,
) -> None:
    federation = LocalFederation.create(
        tmp_path / "nodes", [VN, RU, ZA], {"all": (VN.id, RU.id, ZA.id)}, SETTINGS
    )
    vn, ru, za = (federation.nodes[p.id] for p in (VN, RU, ZA))
    accord = Accord(tmp_path)
    accord.env["ACCORD_PASSPHRASE"] = vn.env["ACCORD_PASSPHRASE"]
    evidence = tmp_path / "evidence.txt"
    evidence.write_text("mailbox export, seized 23 Nov 2026\n")
    package = tmp_path / "pkg"
    try:
        start_all((vn, ru, za))
        # Before the rotation: a message and an evidence package, anchored -------------------
        before = accord.ok(
            "send",
            "--dir",
            str(vn.home),
            "--to",
            RU.id,
            "--subject",
            "before",
            "--text",
            "signed with the first key",
        )
        before_id = re.search(r"queued (\S+)", before.out).group(1)  # type: ignore[union-attr]
        accord.ok(
            "evidence",
            "seal",
            str(evidence),
            "--case",
            "HN-2026-0042",
            "--to",
            RU.id,
            "--out",
            str(package),
            "--acquired-by",
            "Lt. An",
            "--acquired-at",
            "2026-11-23T08:15:00Z",
            "--method",
            "export",
            "--tool",
            "accord",
            "--source",
            "mail server",
            "--dir",
            str(vn.home),
        )

        def anchored() -> str | None:
            run = accord.many(["evidence", "anchor", str(package), "--dir", str(vn.home)])[0]
            assert run.code == 0, run
            return run.out if "1 anchor(s)" in run.out else None

        wait_until(anchored, "a witness to co-sign a checkpoint covering the seal")
        wait_until(
            lambda: query(db_path(ru), "SELECT 1 FROM incoming WHERE message_id = ?", before_id),
            "the first message",
        )

        # The rotation ----------------------------------------------------------------------
        at = SystemClock().now() + timedelta(seconds=LEAD)
        card = tmp_path / "vn.card.json"
        accord.ok(
            "key", "rotate", "--dir", str(vn.home), "--out", str(card), "--at", at.isoformat()
        )
        second = tmp_path / "directory-v2.json"
        second.write_bytes(_second_directory(federation, card.read_bytes()))
        for node in (vn, ru, za):
            accord.ok("directory", "install", str(second), "--dir", str(node.home))
        time.sleep(max(0.0, (at - SystemClock().now()).total_seconds()) + 1.5)

        opened_vn = vn.open()
        try:
            old_keys = opened_vn.ring.generations[0].keys
            directory = DirectoryStore(opened_vn).current(opened_vn.clock.now())
            assert directory is not None
            assert directory.version == 2

            # 1. a message signed with the old key after the rotation is refused ------------
            now = SystemClock().now()
            routing = Routing(new_message_id(now), VN.id, (RU.id,), now, Priority.ROUTINE)
            forged = seal(
                routing=routing,
                kind=Kind.NOTE,
                body={"subject": "old key", "text": "…"},
                signing_key=old_keys.signing,
                recipient_keys={RU.id: directory.encryption_key(RU.id)},
                max_bytes=1 << 20,
            )
            refused = httpx.post(
                ru.url + MESSAGES_PATH,
                content=forged,
                headers={"content-type": MEDIA_TYPE},
                timeout=DEADLINE,
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["code"] == "signature_key_mismatch"

            # 2. the new key's messages are delivered --------------------------------------
            after = accord.ok(
                "send",
                "--dir",
                str(vn.home),
                "--to",
                RU.id,
                "--subject",
                "after",
                "--text",
                "signed with the new key",
            )
            after_id = re.search(r"queued (\S+)", after.out).group(1)  # type: ignore[union-attr]
            wait_until(
                lambda: query(db_path(ru), "SELECT 1 FROM incoming WHERE message_id = ?", after_id),
                "the message signed with the new key",
            )

            # 3. what was received before the rotation still opens --------------------------
            ru_accord = Accord(tmp_path)
            ru_accord.env["ACCORD_PASSPHRASE"] = ru.env["ACCORD_PASSPHRASE"]
            shown = ru_accord.ok("show", "--dir", str(ru.home), before_id)
            assert "signature verified" in shown.out

            # 4. the package sealed before the rotation still verifies, by its anchor -------
            accord.ok("evidence", "open", str(package), "--dir", str(vn.home))
            anchors = Package(package).anchors()
            assert len(anchors) == 1
            assert json.loads(anchors[0])["type"] == "accord-anchor/v1"

            # 5. a package back-dated with the old key is refused, even with that anchor ----
            backdated = tmp_path / "backdated"
            order = SealOrder(
                collect([evidence]),
                "HN-2026-0042",
                (
                    (RU.id, directory.encryption_key(RU.id)),
                    (VN.id, opened_vn.keys.encryption.public_key()),
                ),
                Acquisition(
                    acquired_by="x",
                    acquired_at=at - timedelta(hours=2),
                    method="x",
                    tool="x",
                    source="x",
                ),
                (),
            )
            sealer = Sealer(VN.id, old_keys.signing, federation.directory)
            seal_package(
                order,
                sealer,
                out=backdated,
                now=at - timedelta(hours=1),
                package_id=new_message_id(at - timedelta(hours=1)),
            )
            Package(backdated).add_anchor(anchors[0])
            run = accord.many(["evidence", "open", str(backdated), "--dir", str(vn.home)])[0]
            assert run.code == 2, run
            assert "retired" in run.out
            assert "no anchor proves" in run.out

            # 6. checkpoints: the old key's are refused, vn's own log still verifies --------
            signer = NoteSigner(log_origin(VN.id), old_keys.signing)
            note = sign_checkpoint(Checkpoint(signer.name, 10_000, bytes(32)), signer)
            answer = httpx.post(
                za.url + ADD_CHECKPOINT,
                content=format_add_checkpoint(0, [], note),
                timeout=DEADLINE,
            )
            assert answer.status_code == 403, answer.text
            accord.ok("audit", "verify-local", "--dir", str(vn.home))
        finally:
            opened_vn.close()

        def cosigned_with_the_new_key() -> bool:
            rows = query(
                db_path(vn), "SELECT at FROM audit_cosignatures WHERE at > ?", at.timestamp() + 1
            )
            return bool(rows)

        wait_until(cosigned_with_the_new_key, "witnesses to co-sign vn's new-key checkpoints")
    finally:
        for node in (vn, ru, za):
            node.kill()


@pytest.mark.parametrize("when", ["-1 hour"])
def test_a_rotation_cannot_be_back_dated(tmp_path: Path, when: str) -> None:
    federation = LocalFederation.create(tmp_path / "nodes", [VN, RU], {})
    vn = federation.nodes[VN.id]
    accord = Accord(tmp_path)
    accord.env["ACCORD_PASSPHRASE"] = vn.env["ACCORD_PASSPHRASE"]
    past = (SystemClock().now() - timedelta(hours=1)).isoformat()
    (run,) = accord.many(
        ["key", "rotate", "--dir", str(vn.home), "--out", str(tmp_path / "c.json"), "--at", past]
    )
    assert run.code == 2, run
    assert "cannot be back-dated" in run.out, (when, run)
    assert not (vn.home / "keys" / "rotations.json").exists()
