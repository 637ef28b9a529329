"""Sealing: files of any size become a signed, encrypted package with its first custody records.

Memory stays constant (a few 4 MiB buffers) whatever the size. The package appears only when
every file is encrypted, hashed, signed and flushed; otherwise nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from accord.errors import EvidenceError
from accord.evidence.age import Encryptor
from accord.evidence.models import (
    CHUNK_BYTES,
    ENCRYPTION,
    MANIFEST_TYPE,
    MAX_FILES,
    Acquisition,
    Event,
    Manifest,
    SealedFile,
)
from accord.evidence.package import (
    CUSTODY,
    DIRECTORY,
    MANIFEST,
    Draft,
    Package,
    blob_name,
    drafting,
)
from accord.evidence.signing import next_record, sign_custody, sign_manifest
from accord.evidence.sink import Sink
from accord.evidence.streams import ChunkDigests, PlainDigest, blocks

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Source:
    """A file to seal and the path it gets inside the package."""

    path: Path
    name: str
    size: int


@dataclass(frozen=True)
class SealOrder:
    """What the operator asks for: which files, for which case, to whom, acquired how."""

    sources: tuple[Source, ...]
    case: str
    recipients: tuple[tuple[str, X25519PublicKey], ...]  # participant id, encryption key
    acquisition: Acquisition
    use_limitations: tuple[str, ...] = ()
    request_id: str | None = None  # the Convention request it answers or supports


Screen = Callable[[SealedFile], tuple[str, ...]]  # a file's inherited limitations, or refuses


@dataclass(frozen=True)
class Sealer:
    """The sealing node: who signs, under which directory."""

    participant_id: str
    signing_key: Ed25519PrivateKey
    directory: bytes  # the signed federation directory, kept with the package


def collect(paths: Sequence[Path]) -> tuple[Source, ...]:
    """Every regular file under ``paths``, named relative to the folder that holds each path.

    Symbolic links are refused rather than followed: evidence is sealed as found.
    """
    sources: list[Source] = []
    for given in paths:
        for path in _walk(given):
            name = path.relative_to(given.parent).as_posix()
            sources.append(Source(path, name, _stat_size(path)))
    names = [source.name for source in sources]
    if not sources:
        raise EvidenceError("nothing to seal: no files found", advice="Name files or folders.")
    if len(set(names)) != len(names):
        raise EvidenceError("two inputs have the same name inside the package; rename one")
    if len(sources) > MAX_FILES:
        raise EvidenceError(f"over {MAX_FILES} files; seal them in several packages")
    return tuple(sources)


def _walk(path: Path) -> Iterator[Path]:
    if path.is_symlink():
        raise EvidenceError(f"{path} is a symbolic link; seal the file it points to instead")
    if path.is_dir():
        for child in sorted(path.iterdir()):
            yield from _walk(child)
    elif path.is_file():
        yield path
    else:
        raise EvidenceError(f"{path} is not a regular file or folder (or does not exist)")


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from exc


def seal(
    order: SealOrder,
    sealer: Sealer,
    *,
    out: Path | Package,
    now: datetime,
    package_id: str,
    progress: Progress = lambda _: None,
    screen: Screen = lambda _: (),
) -> Manifest:
    """Write the package to ``out`` (a folder, or a package in a blob store) and return its
    manifest. ``screen`` sees each file once
    sealed; the limitations it returns join the manifest's, and if it raises nothing is left."""
    keys = [key for _, key in order.recipients]
    limitations = list(order.use_limitations)
    files: list[SealedFile] = []
    with drafting(out) as draft:
        for number, source in enumerate(order.sources, start=1):
            sealed = _seal_file(source, draft, blob_name(number), keys, progress)
            limitations += screen(sealed)
            files.append(sealed)
        manifest = Manifest(
            type=MANIFEST_TYPE,
            package_id=package_id,
            case=order.case,
            sealed_by=sealer.participant_id,
            sealed_at=now,
            recipients=tuple(participant for participant, _ in order.recipients),
            acquisition=order.acquisition,
            use_limitations=tuple(dict.fromkeys(limitations)),
            request_id=order.request_id,
            encryption=ENCRYPTION,
            chunk_bytes=CHUNK_BYTES,
            files=tuple(files),
        )
        token = sign_manifest(manifest, sealer.signing_key)
        draft.write(MANIFEST, token + b"\n")
        draft.write(DIRECTORY, sealer.directory)
        draft.write(CUSTODY, _first_records(token, manifest, sealer, now))
    return manifest


def _first_records(token: bytes, manifest: Manifest, sealer: Sealer, now: datetime) -> bytes:
    acquisition = manifest.acquisition
    details = acquisition.as_json()
    del details["acquired_at"]
    chain: list[bytes] = []
    for event, at, extra in (
        (Event.ACQUIRED, acquisition.acquired_at, details),
        (
            Event.SEALED,
            now,
            {"files": str(len(manifest.files)), "to": ",".join(manifest.recipients)},
        ),
    ):
        record = next_record(
            token, manifest, chain, event=event, actor=sealer.participant_id, at=at, details=extra
        )
        chain.append(sign_custody(record, sealer.signing_key))
    return b"".join(line + b"\n" for line in chain)


def _seal_file(
    source: Source, draft: Draft, blob: str, keys: list[X25519PublicKey], progress: Progress
) -> SealedFile:
    plain = PlainDigest()
    chunks = ChunkDigests()
    encryptor = Encryptor(keys)
    size = 0
    try:
        with source.path.open("rb") as handle, Sink(draft.target(blob), tap=chunks.feed) as sink:
            sink.write(encryptor.header)
            for view in blocks(handle, plain.update):
                size += len(view)
                encryptor.update_into(view, sink)  # encrypted straight into the sink's buffers
                progress(len(view))
            encryptor.finalize_into(sink)
            sink.close()
    except FileNotFoundError as exc:
        raise EvidenceError(
            f"{source.path} disappeared while it was being sealed; nothing was written",
            advice="Make sure the evidence is not moved during sealing, then seal again.",
        ) from exc
    digest = plain.hexdigest()
    if size != source.size or _stat_size(source.path) != size:
        raise EvidenceError(
            f"{source.path} changed size while it was being sealed; nothing was written",
            advice="Seal a copy that nothing else is writing to.",
        )
    return SealedFile(
        path=source.name,
        size=size,
        sha256=digest,
        blob=blob,
        ciphertext_size=chunks.size,
        chunks=tuple(chunks.digests()),
    )
