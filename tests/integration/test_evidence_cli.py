"""``accord evidence`` end to end, every step its own process on real node folders: VN seals a
folder (a 9 MiB file of three transfer chunks, an empty file, a Vietnamese/Cyrillic name) to RU;
anyone verifies it offline with the steward set or a card; RU extracts it (custody and audit log
in step); age itself (pyrage) decrypts a blob with RU's exported identity; ZA's key is refused;
the CASE export carries the hashes; bad input, tampered copies and forged directories are
refused, naming what failed and leaving nothing half-written behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.clock import SystemClock
from accord.demo.federation import LocalFederation, _stewards
from accord.evidence.models import CHUNK_BYTES
from accord.identity.directory import draft_bytes, sign_directory
from accord.identity.models import DirectoryDocument, StewardSet
from accord.jose import b64url_decode, b64url_encode, public_jwk

from .helpers import RU, VN, ZA, Accord, Run, db_path, query, refused

CASE = "HN-2026-0042"
BIG = "evidence/big.bin"
EMPTY = "evidence/empty.txt"
CYRILLIC = "evidence/thư_mục/доказательство.txt"
ACQUISITION = [
    "--acquired-by",
    "Lt. Nguyễn Văn An, A05 Cybersecurity Dept.",
    "--acquired-at",
    "2026-11-23T08:15:00Z",
    "--method",
    "logical extraction under warrant 17/2026",
    "--tool",
    "accord-imager 1.2",
    "--source",
    "cloud mailbox of account 42",
    "--use-limitation",
    "Only for case HN-2026-0042 (UNCC Art. 36).",
]


@dataclass(frozen=True)
class Sealed:
    """One package sealed by VN to RU, checked before and after RU extracted it."""

    accord: Accord
    folder: Path
    federation: LocalFederation
    originals: dict[str, bytes]  # path inside the package -> plaintext
    package: Path
    package_id: str
    stewards: Path
    runs: dict[str, Run]  # what the fixture ran, by name

    def home(self, node_id: str) -> str:
        return str(self.federation.nodes[node_id].home)

    def path(self, name: str) -> Path:
        return self.folder / name

    def manifest(self, package: Path | None = None) -> dict[str, Any]:
        token = ((package or self.package) / "manifest.jws").read_bytes().strip()
        return _payload(token)

    def blob(self, name: str) -> str:
        (entry,) = [f for f in self.manifest()["files"] if f["path"] == name]
        blob: str = entry["blob"]
        return blob

    def copy(self, name: str) -> Path:
        copy = self.folder / name
        shutil.copytree(self.package, copy)
        return copy

    def verify(self, package: Path, *anchor: str) -> list[str]:
        return [
            "evidence",
            "verify",
            str(package),
            *(anchor or ("--stewards", str(self.stewards))),
        ]


def _payload(token: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(b64url_decode(token.split(b".")[1].decode("ascii")))
    return loaded


def _evidence(folder: Path) -> dict[str, bytes]:
    originals = {
        BIG: os.urandom(2 * CHUNK_BYTES + CHUNK_BYTES // 4),  # 9 MiB: 3 transfer chunks
        EMPTY: b"",
        CYRILLIC: "Протокол осмотра / Biên bản thu giữ\n".encode() * 100,
    }
    for name, data in originals.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return originals


def _seal(home: str, *paths: Path | str, to: str = RU.id, out: Path | str) -> list[str]:
    return [
        "evidence",
        "seal",
        *map(str, paths),
        "--case",
        CASE,
        "--to",
        to,
        "--out",
        str(out),
        *ACQUISITION,
        "--dir",
        home,
    ]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Sealed:
    folder = tmp_path_factory.mktemp("evidence-cli")
    federation = LocalFederation.create(folder / "nodes", [VN, RU, ZA], {})
    stewards = folder / "stewards.json"
    stewards.write_text(_stewards(federation).model_dump_json())
    originals = _evidence(folder)
    accord = Accord(folder, federation.nodes[VN.id].env["ACCORD_PASSPHRASE"])
    homes = {node_id: str(local.home) for node_id, local in federation.nodes.items()}
    package = folder / "HN-2026-0042.pkg"
    anchor = ["--stewards", str(stewards)]

    names = ["seal", "card_vn", "identity_ru", "identity_za"]
    runs = dict(
        zip(
            names,
            accord.many(
                _seal(homes[VN.id], folder / "evidence", out=package),
                ["card", "export", "--dir", homes[VN.id], "--out", str(folder / "vn.card.json")],
                ["evidence", "identity", "--out", str(folder / "ru.key"), "--dir", homes[RU.id]],
                ["evidence", "identity", "--out", str(folder / "za.key"), "--dir", homes[ZA.id]],
            ),
            strict=True,
        )
    )
    assert all(run.code == 0 for run in runs.values()), runs
    found = re.search(r"as package (\S+) in", runs["seal"].out)
    assert found, runs["seal"]

    verify = ["evidence", "verify", str(package)]
    names = ["verify", "verify_card_vn", "verify_identity_ru", "verify_identity_za", "case"]
    runs |= zip(
        names,
        accord.many(  # before RU's extraction: only VN signed anything yet
            [*verify, *anchor],
            [*verify, "--card", str(folder / "vn.card.json")],
            [*verify, "--identity", str(folder / "ru.key"), *anchor],
            [*verify, "--identity", str(folder / "za.key"), *anchor],
            [
                "evidence",
                "export-case",
                str(package),
                *anchor,
                "--out",
                str(folder / "case.jsonld"),
            ],
        ),
        strict=True,
    )
    (runs["extract"],) = accord.many(
        ["evidence", "extract", str(package), "--out", str(folder / "out"), "--dir", homes[RU.id]]
    )
    return Sealed(accord, folder, federation, originals, package, found[1], stewards, runs)


def test_seal_names_the_package_and_its_recipients(sealed: Sealed) -> None:
    run = sealed.runs["seal"]
    manifest = sealed.manifest()
    assert f"Sealed 3 file(s), {sum(map(len, sealed.originals.values()))} bytes" in run.out, run
    assert f"as package {sealed.package_id} in {sealed.package}" in run.out, run
    assert f"recipients: {RU.id}, {VN.id}" in run.out, run
    assert manifest["package_id"] == sealed.package_id
    assert manifest["case"] == CASE
    assert manifest["sealed_by"] == VN.id
    assert manifest["recipients"] == [RU.id, VN.id]
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == set(sealed.originals)
    for name, data in sealed.originals.items():
        assert files[name]["size"] == len(data)
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(files[BIG]["chunks"]) == 3  # the 9 MiB file is three 4 MiB transfer chunks


def test_verify_offline_with_the_stewards_or_the_sealers_card(sealed: Sealed) -> None:
    for name in ("verify", "verify_card_vn"):
        run = sealed.runs[name]
        assert run.code == 0, run
        assert "signature, custody (2 records) OK" in run.out, run
        assert "ciphertext" in run.out, run
        assert "plaintext" not in run.out, run
        for entry in sealed.manifest()["files"]:
            assert entry["sha256"] in run.stdout, run


def test_node_extracts_identical_files_and_records_custody_and_audit(sealed: Sealed) -> None:
    run = sealed.runs["extract"]
    assert run.code == 0, run
    assert f"Files written to {sealed.path('out')}" in run.out, run
    for name, data in sealed.originals.items():
        assert (sealed.path("out") / name).read_bytes() == data, name
    assert not (sealed.path("out") / BIG).with_name("big.bin.age").exists()

    vn, ru = sealed.federation.nodes[VN.id], sealed.federation.nodes[RU.id]
    select = "SELECT actor, action, object_id FROM audit_records WHERE action LIKE 'evidence.%'"
    assert [tuple(row) for row in query(db_path(vn), select)] == [
        (VN.id, "evidence.sealed", sealed.package_id)
    ]
    assert [tuple(row) for row in query(db_path(ru), select)] == [
        (RU.id, "evidence.extracted", sealed.package_id)
    ]
    assert query(db_path(sealed.federation.nodes[ZA.id]), select) == []


def test_custody_lists_acquired_sealed_extracted(sealed: Sealed) -> None:
    custody, with_vn_card_only = sealed.accord.many(
        ["evidence", "custody", str(sealed.package), "--stewards", str(sealed.stewards)],
        sealed.verify(sealed.package, "--card", str(sealed.path("vn.card.json"))),
    )
    assert custody.code == 0, custody
    assert "3 records, each signed and linked to the one before: OK" in custody.out, custody
    rows = [
        [cell.strip() for cell in line.split("│")[1:4]]
        for line in custody.stdout.splitlines()
        if re.match(r"^│ +\d+ +│", line)
    ]
    assert [row[1:] for row in rows] == [
        ["acquired", VN.id],
        ["sealed", VN.id],
        ["extracted", RU.id],
    ], custody
    records = [
        _payload(line) for line in sealed.package.joinpath("custody.jws").read_bytes().split()
    ]
    assert [(r["event"], r["actor"]) for r in records] == [
        ("acquired", VN.id),
        ("sealed", VN.id),
        ("extracted", RU.id),
    ]
    # RU signed the last record: VN's card alone no longer vouches for the whole chain
    refused(with_vn_card_only, RU.id)


def test_independent_age_implementation_decrypts_with_the_exported_identity(
    sealed: Sealed,
) -> None:
    key = sealed.path("ru.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    lines = [line for line in key.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("AGE-SECRET-KEY-1"), lines
    identity = pyrage.x25519.Identity.from_str(lines[0])
    for name, data in sealed.originals.items():
        blob = (sealed.package / sealed.blob(name)).read_bytes()
        assert pyrage.decrypt(blob, [identity]) == data, name
    assert sealed.blob(BIG) == "files/000001.age"


def test_verify_with_the_recipients_identity_checks_every_plaintext(sealed: Sealed) -> None:
    run = sealed.runs["verify_identity_ru"]
    assert run.code == 0, run
    assert "plaintext" in run.out, run
    assert "ciphertext" not in run.out, run


def test_verify_with_a_non_recipients_identity_says_wrong_key(sealed: Sealed) -> None:
    run = sealed.runs["verify_identity_za"]
    refused(run, "wrong key")
    assert sealed.runs["identity_za"].code == 0
    assert stat.S_IMODE(sealed.path("za.key").stat().st_mode) == 0o600


def test_identity_never_overwrites(sealed: Sealed) -> None:
    before = sealed.path("ru.key").read_bytes()
    (run,) = sealed.accord.many(
        ["evidence", "identity", "--out", str(sealed.path("ru.key")), "--dir", sealed.home(RU.id)]
    )
    refused(run, "already exists")
    assert sealed.path("ru.key").read_bytes() == before


def test_export_case_carries_hashes_and_names(sealed: Sealed) -> None:
    run = sealed.runs["case"]
    assert run.code == 0, run
    text = sealed.path("case.jsonld").read_text(encoding="utf-8")
    document = json.loads(text)
    assert "@context" in document
    assert "@graph" in document
    values = json.dumps(document, ensure_ascii=False)
    for entry in sealed.manifest()["files"]:
        assert entry["sha256"] in values, entry["path"]
    assert "доказательство.txt" in values
    assert sealed.package_id in values


# Refusals -----------------------------------------------------------------------------------------


def _count(sealed: Sealed, node_id: str, action: str) -> int:
    select = "SELECT count(*) FROM audit_records WHERE action = ?"
    count: int = query(db_path(sealed.federation.nodes[node_id]), select, action)[0][0]
    return count


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_verify_without_a_trust_anchor_refuses(sealed: Sealed) -> None:
    (run,) = sealed.accord.many(["evidence", "verify", str(sealed.package)])
    refused(run, "no trust anchor", "--stewards")


def test_bad_seals_are_refused_and_leave_nothing(sealed: Sealed) -> None:
    vn = sealed.home(VN.id)
    evidence = sealed.path("evidence")
    missing = sealed.path("nowhere/seized.img")
    sealed_before = _count(sealed, VN.id, "evidence.sealed")
    unknown, existing, nonexistent, bad_time = sealed.accord.many(
        _seal(vn, evidence, to="xx-nobody", out=sealed.path("PKG2")),
        _seal(vn, evidence, out=sealed.package),
        _seal(vn, missing, out=sealed.path("PKG3")),
        [
            *_seal(vn, evidence, out=sealed.path("PKG4")),
            "--acquired-at",
            "yesterday-ish",
        ],
    )
    refused(unknown, "xx-nobody")
    refused(existing, f"{sealed.package} already exists")
    refused(nonexistent, str(missing))
    assert bad_time.code != 0, bad_time
    assert "acquired-at" in bad_time.out, bad_time
    assert "Traceback" not in bad_time.out, bad_time
    for name in ("PKG2", "PKG3", "PKG4"):
        assert not sealed.path(name).exists(), name
    assert _hidden(sealed.folder) == []
    assert _count(sealed, VN.id, "evidence.sealed") == sealed_before


def test_a_flipped_byte_is_named_by_its_chunk(sealed: Sealed) -> None:
    copy = sealed.copy("flipped.pkg")
    blob = copy / sealed.blob(BIG)
    data = bytearray(blob.read_bytes())
    data[CHUNK_BYTES + 1000] ^= 0x01
    blob.write_bytes(bytes(data))
    keyless, keyed = sealed.accord.many(
        sealed.verify(copy),
        sealed.verify(
            copy, "--identity", str(sealed.path("ru.key")), "--stewards", str(sealed.stewards)
        ),
    )
    refused(keyless, BIG, "chunk 1 (files/000001.age bytes")
    assert "chunk 0" not in keyless.out, keyless
    assert "chunk 2" not in keyless.out, keyless
    refused(keyed, BIG, "chunk 1")


def _forged_directory(sealed: Sealed) -> bytes:
    """The federation's participants, signed by two stewards nobody trusts (same key ids)."""
    now = SystemClock().now()
    keys = {f"steward-{i}": Ed25519PrivateKey.generate() for i in (1, 2, 3)}
    stewards = StewardSet(
        keys=tuple(public_jwk(key.public_key(), kid) for kid, key in keys.items()), threshold=2
    )
    document = DirectoryDocument(
        federation="accord-demo",
        version=1,
        issued_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=30),
        stewards=stewards,
        participants=tuple(local.participant for local in sealed.federation.nodes.values()),
    )
    signed = draft_bytes(document)
    for kid, key in list(keys.items())[:2]:
        signed = sign_directory(signed, key, kid)
    return signed


def _edited_directory(data: bytes) -> bytes:
    """The real directory with one participant's name changed under the stewards' signatures."""
    envelope = json.loads(data)
    payload = b64url_decode(envelope["payload"]).decode()
    assert ZA.name in payload
    envelope["payload"] = b64url_encode(payload.replace(ZA.name, "South Africa (forged)").encode())
    return json.dumps(envelope).encode()


def test_a_substituted_directory_fails_the_stewards(sealed: Sealed) -> None:
    forged, edited = sealed.copy("forged.pkg"), sealed.copy("edited.pkg")
    (forged / "directory.json").write_bytes(_forged_directory(sealed))
    (edited / "directory.json").write_bytes(
        _edited_directory((edited / "directory.json").read_bytes())
    )
    runs = sealed.accord.many(
        sealed.verify(forged),
        sealed.verify(edited),
        ["evidence", "custody", str(forged), "--stewards", str(sealed.stewards)],
        ["evidence", "export-case", str(edited), "--stewards", str(sealed.stewards)],
    )
    for run in runs:
        refused(run, "0 valid signature(s) from the trusted steward set; 2 are required")


def test_a_steward_file_that_is_not_json_is_refused(sealed: Sealed) -> None:
    bad = sealed.path("stewards.txt")
    bad.write_text("steward-1: trust me\n")
    (run,) = sealed.accord.many(sealed.verify(sealed.package, "--stewards", str(bad)))
    refused(run, "steward file is invalid")


def test_extract_refuses_an_existing_folder_and_a_tampered_package(sealed: Sealed) -> None:
    copy = sealed.copy("tampered-for-extract.pkg")
    blob = copy / sealed.blob(CYRILLIC)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01
    blob.write_bytes(bytes(data))
    custody = (copy / "custody.jws").read_bytes()
    ru = sealed.home(RU.id)
    extracted_before = _count(sealed, RU.id, "evidence.extracted")
    existing, tampered = sealed.accord.many(
        ["evidence", "extract", str(sealed.package), "--out", str(sealed.path("out")), "--dir", ru],
        ["evidence", "extract", str(copy), "--out", str(sealed.path("out2")), "--dir", ru],
    )
    refused(existing, "already exists")
    refused(tampered, CYRILLIC)
    assert not sealed.path("out2").exists()
    assert (copy / "custody.jws").read_bytes() == custody  # no custody record for a failure
    assert _hidden(sealed.folder) == []
    assert _count(sealed, RU.id, "evidence.extracted") == extracted_before


# Names that look like console markup -------------------------------------------------------------

MARKUP_BUG = (
    "evidence/cli.py prints user-controlled text (file paths inside the package, --out) through "
    "rich markup: print_table cells and console.print f-strings are not escaped, so "
    "'[red]secret.txt' is shown as 'secret.txt' and a path holding '[/y]' crashes with "
    "rich.errors.MarkupError (exit 1, traceback) after the package verified"
)


def test_file_names_that_look_like_markup_are_listed_as_written(sealed: Sealed) -> None:
    marked = sealed.path("marked")
    (marked / "x[").mkdir(parents=True)
    (marked / "x[" / "y]z.txt").write_text("closing tag")
    (marked / "[red]secret.txt").write_text("style tag")
    package = sealed.path("marked.pkg")
    sealed.accord.ok(*_seal(sealed.home(VN.id), marked, out=package))
    names = {f["path"] for f in sealed.manifest(package)["files"]}
    assert names == {"marked/x[/y]z.txt", "marked/[red]secret.txt"}
    (run,) = sealed.accord.many(sealed.verify(package))
    assert run.code == 0, run
    assert "Traceback" not in run.out, run
    for name in names:
        assert name in run.stdout, run


def test_paths_that_look_like_markup_are_named_as_written(sealed: Sealed) -> None:
    out = sealed.path("p[red]kg")
    missing = sealed.path("nope[bold]x")
    made, refusal = sealed.accord.many(
        _seal(sealed.home(VN.id), sealed.path(EMPTY), out=out),
        _seal(sealed.home(VN.id), missing, out=sealed.path("PKG5")),
    )
    assert made.code == 0, made
    assert out.is_dir()
    refused(refusal, str(missing))
    assert f"in {out}" in made.out, made
