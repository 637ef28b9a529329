"""Offline verification and extraction: no node, no database, only the package and trust anchors.

Without a key, anyone (a court clerk) can check the manifest signature, the chain of custody and
every ciphertext chunk against its SHA-256. With a recipient's key, every file is also decrypted
and its plaintext checked against the manifest. Every file and chunk is checked before the
verdict, which names each one that failed and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from accord.envelope.core import sha256_hex
from accord.errors import EvidenceError, FieldError, PackageDisposed, PackageTampered
from accord.evidence.age import Decryptor, Identities
from accord.evidence.models import CHUNK_BYTES, CustodyRecord, Event, Manifest, SealedFile
from accord.evidence.package import Package, building
from accord.evidence.signing import KeyLookup, verify_chain, verify_manifest
from accord.evidence.sink import Sink
from accord.evidence.streams import PlainDigest, blocks, hashing_pool

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Verified:
    """A package whose every check held."""

    manifest: Manifest
    custody: list[CustodyRecord]
    decrypted: bool


def verify_package(
    package: Package,
    keys: KeyLookup,
    *,
    identity: Identities | None = None,
    progress: Progress = lambda _: None,
) -> Verified:
    """Check signature, custody and every chunk (and every plaintext, given ``identity``).

    Raises PackageTampered listing every file or chunk that failed.
    """
    return _walk(package, keys, identity, None, progress)


def extract(
    package: Package,
    keys: KeyLookup,
    identity: Identities,
    out: Path,
    *,
    progress: Progress = lambda _: None,
) -> Verified:
    """Write the verified files under ``out``; ``out`` appears only if every file verified."""
    with building(out) as work:
        return _walk(package, keys, identity, work, progress)


def read_custody(package: Package, keys: KeyLookup) -> tuple[Manifest, list[CustodyRecord]]:
    """The verified manifest and chain of custody (no file is read)."""
    token = package.manifest_token()
    manifest = verify_manifest(token, keys)
    return manifest, verify_chain(token, manifest, package.custody_chain(), keys)


def refuse_disposed(manifest: Manifest, custody: list[CustodyRecord]) -> None:
    """A package whose holder recorded its disposal has no files left to check or use."""
    last = custody[-1]
    if last.event is Event.DISPOSED:
        raise PackageDisposed(
            f"package {manifest.package_id} was disposed of by {last.actor} on "
            f"{last.at:%Y-%m-%d %H:%M} UTC ({last.details.get('reason', 'no reason given')}); "
            "its files were deleted",
            advice="`accord evidence custody` shows its chain of custody, which was kept.",
        )


def _walk(
    package: Package,
    keys: KeyLookup,
    identity: Identities | None,
    out: Path | None,
    progress: Progress,
) -> Verified:
    manifest, custody = read_custody(package, keys)
    refuse_disposed(manifest, custody)
    problems: list[FieldError] = []
    with hashing_pool(2, "accord-verify") as pool:
        for entry in manifest.files:
            target = None if out is None else out / entry.path
            problems += _check_file(package, entry, _Keyed.of(identity, target), pool, progress)
    if problems:
        raise PackageTampered(
            f"{len(problems)} problem(s) in {package}: "
            + "; ".join(f"{p.field}: {p.message}" for p in problems[:3]),
            advice="Do not rely on the files named; ask the sender to send the package again.",
            errors=problems,
        )
    return Verified(manifest, custody, decrypted=identity is not None)


@dataclass
class _Keyed:
    """Decryption of one file: the plaintext digest, and the file it is written to if any."""

    decryptor: Decryptor
    plain: PlainDigest
    target: Path | None
    failure: str | None = None

    @classmethod
    def of(cls, identity: Identities | None, target: Path | None) -> _Keyed | None:
        return None if identity is None else cls(Decryptor(identity), PlainDigest(), target)

    def feed(self, data: bytes | memoryview, out: Sink, *, final: bool) -> None:
        """Decrypt straight into ``out``, which hashes (and writes) what it is given."""
        if self.failure is not None:
            return
        try:
            if final:
                self.decryptor.finalize_into(out)
            else:
                self.decryptor.update_into(data, out)
        except EvidenceError as exc:
            self.failure = exc.message


def _check_file(
    package: Package,
    entry: SealedFile,
    keyed: _Keyed | None,
    pool: ThreadPoolExecutor,
    progress: Progress,
) -> list[FieldError]:
    actual = package.blob_size(entry.blob)
    if actual is None:
        return [FieldError(entry.path, "blob.missing", f"{entry.blob} is missing")]
    if actual != entry.ciphertext_size:
        change = "truncated" if actual < entry.ciphertext_size else "bytes were added"
        message = f"{entry.blob} is {actual} bytes, the manifest says {entry.ciphertext_size}"
        return [FieldError(entry.path, "blob.size", f"{message}: {change}")]
    digests: list[Future[str]] = []
    with package.open_blob(entry.blob) as handle, _plaintext(keyed) as out:
        for view in blocks(handle, lambda view: _hash(pool, digests, view)):
            if keyed is not None and out is not None:
                keyed.feed(view, out, final=False)
            progress(len(view))
        if keyed is not None and out is not None:
            keyed.feed(b"", out, final=True)
            out.close()
    chunks = _chunk_problems(entry, [d.result() for d in digests])
    return chunks + _plain_problems(entry, keyed, 0 if out is None else out.size)


def _hash(pool: ThreadPoolExecutor, digests: list[Future[str]], view: memoryview) -> Future[str]:
    future = pool.submit(sha256_hex, view)
    digests.append(future)
    return future


def _plaintext(keyed: _Keyed | None) -> contextlib.AbstractContextManager[Sink | None]:
    """Where decrypted chunks go: the plaintext digest, and the extracted file if any."""
    if keyed is None:
        return contextlib.nullcontext()
    if keyed.target is not None:
        keyed.target.parent.mkdir(parents=True, exist_ok=True)
    return Sink(keyed.target, tap=keyed.plain.update)


def _chunk_problems(entry: SealedFile, found: list[str]) -> list[FieldError]:
    """Each chunk whose SHA-256 differs from the manifest's (swapped chunks show as two)."""
    problems = []
    for index, (expected, actual) in enumerate(zip(entry.chunks, found, strict=True)):
        if expected != actual:
            start = index * CHUNK_BYTES
            end = min(start + CHUNK_BYTES, entry.ciphertext_size)
            problems.append(
                FieldError(
                    entry.path,
                    "chunk.sha256",
                    f"chunk {index} ({entry.blob} bytes {start}..{end}) does not match its "
                    "SHA-256 in the signed manifest",
                )
            )
    return problems


def _plain_problems(entry: SealedFile, keyed: _Keyed | None, size: int) -> list[FieldError]:
    if keyed is None:
        return []
    digest = keyed.plain.hexdigest()
    if keyed.failure is not None:
        return [FieldError(entry.path, "decryption", keyed.failure)]
    if size != entry.size or digest != entry.sha256:
        return [
            FieldError(
                entry.path,
                "plaintext.sha256",
                f"decrypted file is {size} bytes with SHA-256 {digest[:16]}…, the manifest "
                f"says {entry.size} bytes with {entry.sha256[:16]}…",
            )
        ]
    return []
