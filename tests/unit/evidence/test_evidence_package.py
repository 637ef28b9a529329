"""Sealing and offline verification, and each attack on a package, named after the attack."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws

from accord.errors import EvidenceError, PackageDisposed, PackageTampered, UnknownParticipant
from accord.evidence import package as layout
from accord.evidence.models import CHUNK_BYTES, Acquisition, Event
from accord.evidence.package import Package
from accord.evidence.seal import Sealer, SealOrder, collect, seal
from accord.evidence.signing import next_record, sign_custody, sign_manifest, verify_manifest
from accord.evidence.verify import extract, verify_package
from accord.jose import b64url_decode, b64url_encode, okp

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ACQUISITION = Acquisition(
    acquired_by="Capt. Nguyen Van A",
    acquired_at=datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    method="logical copy of a mailbox export",
    tool="FTK Imager 4.7.1",
    source="Example Telecom mail server",
)


@dataclass
class Party:
    id: str
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @classmethod
    def new(cls, participant_id: str) -> Party:
        return cls(participant_id, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())


VN, RU, OUTSIDER = Party.new("vn-mps-247"), Party.new("ru-gp-ca"), Party.new("xx-forger")


def directory_keys(participant_id: str) -> Ed25519PublicKey:
    """The federation directory as the verifier knows it: VN and RU, not the forger."""
    for party in (VN, RU):
        if party.id == participant_id:
            return party.signing.public_key()
    raise UnknownParticipant(f"{participant_id!r} is not in the directory")


def make_package(tmp: Path, files: dict[str, bytes], name: str = "pkg") -> Package:
    source = tmp / "evidence"
    for relative, data in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(data)
    order = SealOrder(
        collect([source]),
        "HN-2026-0042",
        ((RU.id, RU.encryption.public_key()), (VN.id, VN.encryption.public_key())),
        ACQUISITION,
        ("Use only for case HN-2026-0042 (UNCC Art. 36)",),
    )
    sealer = Sealer(VN.id, VN.signing, b"{}")
    seal(order, sealer, out=tmp / name, now=NOW, package_id="01936f4e-8a2b-7c3d-9e4f-0123456789ab")
    return Package(tmp / name)


BIG = os.urandom(2 * CHUNK_BYTES + 1000)  # three transfer chunks


@pytest.fixture
def sealed(tmp_path: Path) -> Package:
    return make_package(tmp_path, {"mail/inbox.mbox": BIG, "notes.txt": b"seized 23 Nov"})


def refused(package: Package, *, identity: X25519PrivateKey | None = None) -> PackageTampered:
    with pytest.raises(PackageTampered) as caught:
        verify_package(package, directory_keys, identity=identity)
    return caught.value


def test_sealed_package_verifies_without_key_and_with_each_recipient_key(sealed: Package) -> None:
    keyless = verify_package(sealed, directory_keys)
    assert (keyless.decrypted, [r.event for r in keyless.custody]) == (
        False,
        [Event.ACQUIRED, Event.SEALED],
    )
    for party in (RU, VN):
        assert verify_package(sealed, directory_keys, identity=party.encryption).decrypted
    files = {f.path: f for f in keyless.manifest.files}
    assert files["evidence/mail/inbox.mbox"].size == len(BIG)
    assert len(files["evidence/mail/inbox.mbox"].chunks) == 3


def test_extract_writes_exactly_the_sealed_files(sealed: Package, tmp_path: Path) -> None:
    extract(sealed, directory_keys, RU.encryption, tmp_path / "out")
    assert (tmp_path / "out/evidence/mail/inbox.mbox").read_bytes() == BIG
    assert (tmp_path / "out/evidence/notes.txt").read_bytes() == b"seized 23 Nov"


# Attacks -------------------------------------------------------------------------------------


def _blob(package: Package, name: str = "files/000001.age") -> Path:
    return package.root / name


def test_flipped_byte_in_a_chunk_is_named_by_file_and_chunk(sealed: Package) -> None:
    path = _blob(sealed)
    data = bytearray(path.read_bytes())
    data[CHUNK_BYTES + 17] ^= 0x01
    path.write_bytes(data)

    error = refused(sealed)
    assert [(e.field, e.rule) for e in error.errors] == [
        ("evidence/mail/inbox.mbox", "chunk.sha256")
    ]
    assert "chunk 1 (files/000001.age bytes 4194304..8388608)" in error.errors[0].message


def test_flipped_byte_is_also_caught_by_decryption(sealed: Package) -> None:
    path = _blob(sealed)
    data = bytearray(path.read_bytes())
    data[CHUNK_BYTES + 17] ^= 0x01
    path.write_bytes(data)

    rules = {e.rule for e in refused(sealed, identity=RU.encryption).errors}
    assert rules == {"chunk.sha256", "decryption"}


def test_swapped_chunks_are_both_named(sealed: Package) -> None:
    path = _blob(sealed)
    data = path.read_bytes()
    first, second = data[:CHUNK_BYTES], data[CHUNK_BYTES : 2 * CHUNK_BYTES]
    path.write_bytes(second + first + data[2 * CHUNK_BYTES :])

    messages = [e.message for e in refused(sealed).errors]
    assert [m.split(" (")[0] for m in messages] == ["chunk 0", "chunk 1"]


def test_truncated_file_is_reported_as_truncated(sealed: Package) -> None:
    path = _blob(sealed)
    data = path.read_bytes()
    path.write_bytes(data[:-100])

    error = refused(sealed)
    assert error.errors[0].rule == "blob.size"
    assert error.errors[0].message.endswith("truncated")


def test_missing_file_is_reported(sealed: Package) -> None:
    _blob(sealed, "files/000002.age").unlink()
    assert [e.rule for e in refused(sealed).errors] == ["blob.missing"]


def _edit_manifest(package: Package, change: Callable[[dict[str, object]], None]) -> None:
    header, payload, signature = package.manifest_token().split(b".")
    claims = json.loads(b64url_decode(payload.decode()))
    change(claims)
    edited = b64url_encode(json.dumps(claims).encode()).encode()
    (package.root / layout.MANIFEST).write_bytes(b".".join([header, edited, signature]))


def test_manifest_edited_after_signing_is_refused(sealed: Package) -> None:
    _edit_manifest(sealed, lambda claims: claims.update(case="HN-2026-9999"))
    with pytest.raises(PackageTampered, match="edited after signing or re-signed"):
        verify_package(sealed, directory_keys)


def test_manifest_resigned_by_a_key_not_in_the_directory_is_refused(tmp_path: Path) -> None:
    forged = make_package(tmp_path, {"a.txt": b"x"})
    token = forged.manifest_token()
    manifest = verify_manifest(token, directory_keys)
    resigned = sign_manifest(manifest, OUTSIDER.signing)  # VN's name, the forger's key
    (forged.root / layout.MANIFEST).write_bytes(resigned)
    with pytest.raises(PackageTampered, match="not signed by the key of 'vn-mps-247'"):
        verify_package(forged, directory_keys)


def test_manifest_signed_in_the_name_of_an_outsider_is_refused(tmp_path: Path) -> None:
    forged = make_package(tmp_path, {"a.txt": b"x"})
    manifest = verify_manifest(forged.manifest_token(), directory_keys)
    outsider = manifest.model_copy(update={"sealed_by": OUTSIDER.id})
    (forged.root / layout.MANIFEST).write_bytes(sign_manifest(outsider, OUTSIDER.signing))
    with pytest.raises(PackageTampered, match="'xx-forger', who is not a trusted participant"):
        verify_package(forged, directory_keys)


def _extend_custody(package: Package, party: Party, event: Event) -> None:
    token = package.manifest_token()
    manifest = verify_manifest(token, directory_keys)
    record = next_record(
        token, manifest, package.custody_chain(), event=event, actor=party.id, at=NOW
    )
    package.append_custody(sign_custody(record, party.signing))


def test_a_record_after_the_disposal_is_refused(sealed: Package) -> None:
    _extend_custody(sealed, VN, Event.DISPOSED)
    with pytest.raises(PackageDisposed, match="was disposed of by vn-mps-247"):
        verify_package(sealed, directory_keys)
    _extend_custody(sealed, VN, Event.SENT)  # signed by a participant, but after the disposal
    with pytest.raises(PackageTampered, match="record 3 \\(sent by vn-mps-247\\) comes after"):
        verify_package(sealed, directory_keys)


def test_custody_record_removed_from_the_middle_breaks_the_next_link(sealed: Package) -> None:
    _extend_custody(sealed, VN, Event.SENT)
    _extend_custody(sealed, RU, Event.RECEIVED)
    assert len(verify_package(sealed, directory_keys).custody) == 4
    chain = sealed.custody_chain()
    del chain[2]
    (sealed.root / layout.CUSTODY).write_bytes(b"".join(line + b"\n" for line in chain))

    with pytest.raises(PackageTampered, match="custody record 2 does not link to record 1"):
        verify_package(sealed, directory_keys)


def test_custody_record_signed_by_an_outsider_is_refused(sealed: Package) -> None:
    _extend_custody(sealed, OUTSIDER, Event.OPENED)
    with pytest.raises(PackageTampered, match="custody record 2 is signed in the name of"):
        verify_package(sealed, directory_keys)


def test_custody_without_its_acquisition_is_refused(sealed: Package) -> None:
    (sealed.root / layout.CUSTODY).write_bytes(b"")
    with pytest.raises(PackageTampered, match="does not start with the acquisition"):
        verify_package(sealed, directory_keys)


def test_wrong_recipients_key_is_named_for_each_file(sealed: Package) -> None:
    error = refused(sealed, identity=OUTSIDER.encryption)
    assert {e.rule for e in error.errors} == {"decryption"}
    assert all("wrong key" in e.message for e in error.errors)


def test_failed_extraction_leaves_no_output(sealed: Package, tmp_path: Path) -> None:
    _blob(sealed, "files/000002.age").write_bytes(b"age-encryption.org/v1\n")
    with pytest.raises(PackageTampered):
        extract(sealed, directory_keys, RU.encryption, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


# Sealing failures leave nothing behind ----------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in {"evidence"})


def test_full_disk_while_sealing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(EvidenceError, match="No space left on device; nothing was left behind"):
        make_package(tmp_path, {"a.bin": os.urandom(1000)})
    assert _leftovers(tmp_path) == []


def test_input_that_disappears_before_sealing_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "evidence"
    source.mkdir()
    (source / "a.bin").write_bytes(b"a")
    (source / "b.bin").write_bytes(b"b")
    sources = collect([source])
    (source / "b.bin").unlink()
    order = SealOrder(sources, "C-1", ((RU.id, RU.encryption.public_key()),), ACQUISITION)
    with pytest.raises(EvidenceError, match="disappeared while it was being sealed"):
        seal(order, Sealer(VN.id, VN.signing, b"{}"), out=tmp_path / "pkg", now=NOW, package_id="p")
    assert _leftovers(tmp_path) == []


def test_input_that_shrinks_while_sealing_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "evidence"
    source.mkdir()
    (source / "a.bin").write_bytes(os.urandom(3 * 1024 * 1024 * 4))
    order = SealOrder(collect([source]), "C-1", ((RU.id, RU.encryption.public_key()),), ACQUISITION)

    def truncate(_count: int) -> None:
        os.truncate(source / "a.bin", 1024)

    with pytest.raises(EvidenceError, match="changed size while it was being sealed"):
        seal(
            order,
            Sealer(VN.id, VN.signing, b"{}"),
            out=tmp_path / "pkg",
            now=NOW,
            package_id="p",
            progress=truncate,
        )
    assert _leftovers(tmp_path) == []


def test_sealing_over_an_existing_package_is_refused(sealed: Package, tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="already exists"):
        make_package(tmp_path / "again", {"a": b"a"}, name="../pkg")


def test_symbolic_links_are_refused_not_followed(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(EvidenceError, match="symbolic link"):
        collect([tmp_path / "link"])


# Round trips ----------------------------------------------------------------------------------

# file names in Cyrillic, Vietnamese, Chinese and Arabic scripts
NAMES = st.text(
    alphabet=st.sampled_from("abcxyzБжщяđưởạ中文ﻉﺮﺑ0123456789-_ "), min_size=1, max_size=12
).filter(lambda name: name.strip() == name and name not in {".", ".."})


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(NAMES, st.binary(max_size=70_000), min_size=1, max_size=5))
def test_random_file_sets_round_trip(tmp_path: Path, files: dict[str, bytes]) -> None:
    work = tmp_path / "round"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    package = make_package(work, files)
    extract(package, directory_keys, VN.encryption, work / "out")
    assert {name: (work / "out/evidence" / name).read_bytes() for name in files} == files


def test_a_manifest_over_joserfcs_default_payload_limit_verifies(tmp_path: Path) -> None:
    # 600 files make a manifest of about 200 kB, over joserfc's 128,000-byte default
    package = make_package(tmp_path, {f"f{n:04d}": b"" for n in range(600)})
    assert len(package.manifest_token()) > 128_000
    assert len(verify_package(package, directory_keys).manifest.files) == 600


def test_a_manifest_that_is_not_a_jws_is_refused(sealed: Package) -> None:
    (sealed.root / layout.MANIFEST).write_bytes(b"not a manifest at all")
    with pytest.raises(EvidenceError, match="manifest is not a compact JWS"):
        verify_package(sealed, directory_keys)


def _resign_manifest(package: Package, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the manifest's claims and sign them again with the real sealer's key."""
    header, payload, _ = package.manifest_token().split(b".")
    claims = json.loads(b64url_decode(payload.decode()))
    change(claims)
    token = jws.serialize_compact(
        json.loads(b64url_decode(header.decode())),
        json.dumps(claims).encode(),
        okp(VN.signing),
        algorithms=["Ed25519"],
    )
    (package.root / layout.MANIFEST).write_bytes(token.encode())


def test_a_signed_manifest_with_a_path_escaping_the_package_is_refused(sealed: Package) -> None:
    # signed by the real sealer, so only the schema stands between the path and extraction
    _resign_manifest(sealed, lambda claims: claims["files"][0].update(path="../../etc/cron.d/x"))
    with pytest.raises(EvidenceError) as caught:
        verify_package(sealed, directory_keys)
    assert caught.value.errors[0].field == "files.0.path"
    assert "relative path inside the package" in caught.value.errors[0].message


@pytest.mark.parametrize(("value", "says"), [("", "at least 1"), ("r" * 129, "at most 128")])
def test_a_signed_manifest_naming_a_malformed_request_is_refused(
    sealed: Package, value: str, says: str
) -> None:
    # signed by the real sealer: the schema refuses an empty or oversized request id (ADR 0011)
    _resign_manifest(sealed, lambda claims: claims.update(request_id=value))
    with pytest.raises(EvidenceError) as caught:
        verify_package(sealed, directory_keys)
    assert caught.value.errors[0].field == "request_id"
    assert says in caught.value.errors[0].message
