"""``accord audit`` end to end, every step its own process: a node's checkpoints and proofs
verify offline with only its key or its card; tampered documents, the wrong key and a
hand-edited database are refused, each naming what failed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from accord.audit.cli import app as audit_app
from accord.audit.note import NoteVerifier, open_checkpoint
from accord.demo.federation import LocalFederation

from .helpers import RU, VN, Accord, copy_node, database_of, execute, refused

NOTE = ["--subject", "Preservation", "--text", "Please preserve account 42."]


@dataclass(frozen=True)
class Logged:
    """VN's log (never served): entry 0 the directory, entries 1 and 2 two messages sent to
    RU, checkpoints signed at sizes 2 and 3, and the documents and keys the CLI printed."""

    accord: Accord
    home: Path
    folder: Path
    printed_note: str  # `accord audit checkpoint` at size 2, printed 60 columns wide
    vkey: str

    def path(self, name: str) -> Path:
        return self.folder / name

    def document(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.path(name).read_text())
        return loaded

    def verify(self, name: str, *key: str) -> list[str]:
        return ["audit", "verify", str(self.path(name)), *(key or ("--vkey", self.vkey))]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    folder = tmp_path_factory.mktemp("audit-cli")
    federation = LocalFederation.create(folder, [VN, RU], {})
    vn, ru = federation.nodes[VN.id], federation.nodes[RU.id]
    accord = Accord(folder, vn.env["ACCORD_PASSPHRASE"])
    at_vn = ["--dir", str(vn.home)]
    send = ["send", *at_vn, "--to", RU.id, *NOTE]

    accord.ok(*send)
    narrow = Accord(folder, vn.env["ACCORD_PASSPHRASE"])
    narrow.env["COLUMNS"] = "60"  # narrower than a signature line
    printed = narrow.ok("audit", "checkpoint", *at_vn)
    accord.ok(*send)
    checkpoint, key, *cards = accord.many(
        ["audit", "checkpoint", "--json", *at_vn],
        ["audit", "key", *at_vn],
        ["card", "export", *at_vn, "--out", str(folder / "vn.card.json")],
        ["card", "export", "--dir", str(ru.home), "--out", str(folder / "ru.card.json")],
    )
    inclusion, consistency = accord.many(
        ["audit", "prove", "--index", "1", "--json", *at_vn],
        ["audit", "consistency", "--from", "2", "--to", "3", "--json", *at_vn],
    )
    documents = {"checkpoint": checkpoint, "inclusion": inclusion, "consistency": consistency}
    assert all(run.code == 0 for run in (key, *cards, *documents.values())), (key, cards, documents)
    for name, run in documents.items():  # `accord audit ... --json > NAME.json`
        (folder / f"{name}.json").write_text(run.stdout)
    return Logged(accord, vn.home, folder, printed.stdout, key.stdout.strip())


def test_checkpoint_prints_the_signed_note_exactly(logged: Logged) -> None:
    """What the command prints is the note itself, never wrapped to the terminal's width."""
    verifier = NoteVerifier.from_vkey(logged.vkey)
    assert verifier.name == f"accord-audit/{VN.id}"
    assert open_checkpoint(logged.printed_note.encode(), verifier).size == 2


def test_proofs_verify_offline_with_the_key_or_the_card(logged: Logged) -> None:
    runs = logged.accord.many(
        logged.verify("inclusion.json"),
        logged.verify("consistency.json"),
        logged.verify("checkpoint.json"),
        logged.verify("inclusion.json", "--card", str(logged.path("vn.card.json"))),
    )
    said = [run.stdout.strip() for run in runs]
    assert [run.code for run in runs] == [0, 0, 0, 0], runs
    assert said == [
        "OK: entry 1 (message.sent) is in the log at size 3",
        "OK: the log at size 3 extends the log at size 2",
        f"OK: checkpoint of accord-audit/{VN.id} at size 3 is signed",
        "OK: entry 1 (message.sent) is in the log at size 3",
    ]


# Tampered documents -----------------------------------------------------------------------------


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _rooted_elsewhere(note: str) -> str:
    origin, size, _root, rest = note.split("\n", 3)
    return "\n".join((origin, size, base64.b64encode(bytes(32)).decode(), rest))


Edit = Callable[[dict[str, Any], Logged], None]
TAMPERED: dict[str, tuple[str, Edit, str]] = {  # document edited, how, what the refusal says
    "entry_edited": (
        "inclusion",
        lambda d, _: d.update(entry=d["entry"].replace("message.sent", "message.read")),
        "the inclusion proof for leaf 1 leads to root",
    ),
    "entry_renumbered": (
        "inclusion",
        lambda d, _: d.update(entry=d["entry"].replace('"index":1', '"index":2')),
        "entry: not an audit record with index 1",
    ),
    "proof_hash_flipped": (
        "inclusion",
        lambda d, _: d.update(proof=[_flip(d["proof"][0]), *d["proof"][1:]]),
        "the inclusion proof for leaf 1 leads to root",
    ),
    "proof_hash_dropped": (
        "inclusion",
        lambda d, _: d.update(proof=d["proof"][:-1]),
        "an inclusion proof for leaf 1 in a tree of size 3 has 2 hashes, this one has 1",
    ),
    "checkpoint_swapped_for_the_older_one": (
        "inclusion",
        lambda d, logged: d.update(checkpoint=logged.document("consistency.json")["old"]),
        "tree_size: 3 differs from the checkpoint's size 2",
    ),
    "checkpoint_root_replaced": (
        "inclusion",
        lambda d, _: d.update(checkpoint=_rooted_elsewhere(d["checkpoint"])),
        f"signature by key accord-audit/{VN.id}+{{key_id}} does not verify",
    ),
    "consistency_old_and_new_swapped": (
        "consistency",
        lambda d, _: d.update(old=d["new"], new=d["old"]),
        "old size 3 is not between 0 and new size 2",
    ),
    "consistency_proof_flipped": (
        "consistency",
        lambda d, _: d.update(proof=[_flip(h) for h in d["proof"]]),
        "the consistency proof leads to",
    ),
}


def test_tampered_documents_are_refused_naming_what_failed(logged: Logged) -> None:
    argvs = []
    for name, (source, edit, _says) in TAMPERED.items():
        document = logged.document(f"{source}.json")
        edit(document, logged)
        logged.path(f"{name}.json").write_text(json.dumps(document))
        argvs.append(logged.verify(f"{name}.json"))
    logged.path("not_json.json").write_bytes(b'{"type": ')
    argvs.append(logged.verify("not_json.json"))
    argvs.append(logged.verify("inclusion.json", "--card", str(logged.path("ru.card.json"))))

    *tampered, not_json, wrong_card = logged.accord.many(*argvs)

    key_id = NoteVerifier.from_vkey(logged.vkey).key_id.hex()
    for run, (_source, _edit, says) in zip(tampered, TAMPERED.values(), strict=True):
        refused(run, says.format(key_id=key_id))
    refused(not_json, "document is not valid JSON")
    refused(
        wrong_card,
        "note carries no Ed25519 note signature (type 0x01) by key accord-audit/ru-gp-ca+",
    )


def test_verify_takes_exactly_one_of_vkey_and_card(logged: Logged) -> None:
    card = ["--card", str(logged.path("vn.card.json"))]
    both, neither, bad_key = logged.accord.many(
        logged.verify("inclusion.json", "--vkey", logged.vkey, *card),
        ["audit", "verify", str(logged.path("inclusion.json"))],
        logged.verify("inclusion.json", "--vkey", "accord-audit/vn-mps-247"),
    )
    refused(both, "give exactly one of --vkey and --card")
    refused(neither, "give exactly one of --vkey and --card")
    refused(bad_key, "verifier key is not <name>+<hex key ID>+<base64 key>")


# The stored log -------------------------------------------------------------------------------


def test_verify_local_names_the_hand_edited_entry(logged: Logged, tmp_path: Path) -> None:
    home = copy_node(logged.home, tmp_path / "vn")  # the other tests keep the original
    at_home = ["--dir", str(home)]
    intact, alarms = logged.accord.many(
        ["audit", "verify-local", *at_home], ["audit", "alarms", *at_home]
    )
    assert intact.code == 0, intact
    assert intact.stdout.strip() == "OK: 3 records match 2 signed checkpoints"
    assert alarms.code == 0, alarms

    execute(
        database_of(home),
        "UPDATE audit_records SET record = replace(record, 'message.sent', 'message.read') "
        "WHERE idx = 1",
        "UPDATE audit_records SET record = convert_to(replace(convert_from(record, 'UTF8'), "
        "'message.sent', 'message.read'), 'UTF8') WHERE idx = 1",
    )

    edited, proof = logged.accord.many(
        ["audit", "verify-local", *at_home], ["audit", "prove", "--index", "1", "--json", *at_home]
    )
    refused(edited, "audit entry 1 no longer matches the checkpoint of size 2 signed by this node")
    # the node still serves the edited record, and its proof no longer verifies offline
    assert proof.code == 0, proof
    assert "message.read" in json.loads(proof.stdout)["entry"]
    logged.path("edited.json").write_text(proof.stdout)
    refused(
        logged.accord.many(logged.verify("edited.json"))[0],
        "the inclusion proof for leaf 1 leads to root",
    )


# Help -------------------------------------------------------------------------------------------


def test_every_audit_subcommand_answers_help(logged: Logged) -> None:
    group = typer.main.get_command(audit_app)
    assert isinstance(group, typer.core.TyperGroup)
    names = sorted(group.commands)
    assert names == [
        "alarms",
        "checkpoint",
        "consistency",
        "key",
        "prove",
        "verify",
        "verify-local",
    ]
    runs = logged.accord.many(["audit", "--help"], *(["audit", name, "--help"] for name in names))
    usages = ["accord audit [OPTIONS] COMMAND", *(f"accord audit {n} [OPTIONS]" for n in names)]
    for run, usage in zip(runs, usages, strict=True):
        assert run.code == 0, run
        assert run.out.startswith("Usage: "), run
        assert usage in run.out, run
        assert "Traceback" not in run.out, run
