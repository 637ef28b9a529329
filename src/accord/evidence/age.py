"""age v1 file encryption (age-encryption.org/v1, c2sp.org/age) to X25519 recipients.

Streaming in constant memory, interoperable with age, rage and pyrage; ``cryptography``'s
primitives do all the cryptography. Stanzas of other recipient types are parsed strictly, then
ignored; no ASCII armor. Malformed input raises :class:`AgeError` naming the line or field;
failed authentication (header MAC, a chunk, truncation, trailing data, no stanza for the
identity) raises :class:`~accord.errors.PackageTampered`.
"""

from __future__ import annotations

import base64
import hmac as stdlib_hmac
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.errors import EvidenceError, PackageTampered

CHUNK = 64 * 1024  # age v1 §Payload: "The payload is split in chunks of 64 KiB"
_TAG, _KEY_BYTES = 16, 32  # Poly1305 tag; X25519 keys, HKDF outputs
_SEALED = CHUNK + _TAG
_FILE_KEY_BYTES = 16  # age v1 §File key: 128 bits
_NONCE_BYTES = 16  # age v1 §Payload: a 16-byte nonce starts the payload
_MAX_HEADER_BYTES = 1 << 20  # our limit: room for thousands of stanzas
_READ = 4 * 1024 * 1024
_VERSION_PREFIX = b"age-encryption.org/"
_VERSION_LINE = b"age-encryption.org/v1"
_X25519_INFO = b"age-encryption.org/v1/X25519"
_ZERO_NONCE = bytes(12)  # age v1 §X25519 recipient stanza: nonce fixed as 12 0x00 bytes
_NOT_LAST, _LAST = b"\x00", b"\x01"
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VCHAR = bytes(range(0x21, 0x7F))
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_RECIPIENT_HRP, _IDENTITY_HRP = "age", "age-secret-key-"

_MALFORMED = "This is not a well-formed age v1 file; obtain a fresh copy from its sender."
_TAMPERED = "Do not use any of its content; obtain the file again from its sender and verify it."
_TRUNCATED = "The copy is incomplete; transfer the complete file again and decrypt that."
_WRONG_KEY = "Decrypt with the identity (AGE-SECRET-KEY-1...) of a recipient it was sealed to."
_BAD_KEY = "Copy the key again: recipients read age1..., identities AGE-SECRET-KEY-1..."
_MISUSE = "Create a new Encryptor or Decryptor for each file."

_Buffer = bytes | bytearray | memoryview


Identities = X25519PrivateKey | Sequence[X25519PrivateKey]  # one key, or every generation


class AgeError(EvidenceError):
    """An age file, key string or stanza that breaks the age v1 grammar or rules."""

    code = "age_invalid"


def _malformed(message: str) -> AgeError:
    return AgeError(message, advice=_MALFORMED)


def _tampered(message: str, advice: str = _TAMPERED) -> PackageTampered:
    return PackageTampered(message, advice=advice)


# Keys: Bech32 as BIP173 (not bech32m), "without length limits on the data part" ------------


def _polymod(hrp: str, values: list[int]) -> int:
    check = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_BECH32_GEN):
            check ^= gen if top >> i & 1 else 0
    return check


def _regroup(values: Sequence[int], src: int, dst: int) -> list[int] | None:
    """BIP173 convertbits, padding when widening to 5 bits; ``None`` on bad padding."""
    acc, bits, out, mask = 0, 0, [], (1 << dst) - 1
    for value in values:
        acc, bits = (acc << src | value) & ((1 << (src + dst)) - 1), bits + src
        while bits >= dst:
            bits -= dst
            out.append(acc >> bits & mask)
    if dst == 5 and bits:
        out.append(acc << (dst - bits) & mask)
    elif dst == 8 and (bits >= src or acc << (dst - bits) & mask):
        return None
    return out


def _bech32_encode(hrp: str, payload: bytes) -> str:
    data = _regroup(payload, 8, 5) or []
    check = _polymod(hrp, [*data, 0, 0, 0, 0, 0, 0]) ^ 1
    data += [check >> 5 * (5 - i) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data)


def _bech32_key(text: str, hrp: str, what: str) -> bytes:
    """Decode a 32-byte key; messages never echo ``text`` (it may be a secret)."""
    lower = text.lower()
    sep = lower.rfind("1")
    data = [_BECH32.find(c) for c in lower[sep + 1 :]]
    printable = all(33 <= ord(c) <= 126 for c in text)  # BIP173: US-ASCII 33..126 only
    if not printable or text not in {lower, text.upper()} or sep < 1 or len(data) < 6 or -1 in data:
        raise AgeError(f"{what} is not Bech32 (mixed case, bad character)", advice=_BAD_KEY)
    if _polymod(lower[:sep], data) != 1:
        raise AgeError(f"{what} has a wrong Bech32 checksum (a typo?)", advice=_BAD_KEY)
    payload = _regroup(data[:-6], 5, 8)
    if lower[:sep] != hrp or payload is None or len(payload) != _KEY_BYTES:
        raise AgeError(f"{what} must be a {hrp!r} Bech32 string of 32 bytes", advice=_BAD_KEY)
    return bytes(payload)


def recipient_string(key: X25519PublicKey) -> str:
    """Encode an X25519 public key as an age recipient, ``age1...`` (age v1 §X25519)."""
    return _bech32_encode(_RECIPIENT_HRP, key.public_bytes_raw())


def identity_string(key: X25519PrivateKey) -> str:
    """Encode an X25519 private key as an age identity, ``AGE-SECRET-KEY-1...``."""
    return _bech32_encode(_IDENTITY_HRP, key.private_bytes_raw()).upper()


def parse_recipient(text: str) -> X25519PublicKey:
    """Parse an ``age1...`` recipient; raise :class:`AgeError` on a bad checksum/HRP/length."""
    return X25519PublicKey.from_public_bytes(_bech32_key(text, _RECIPIENT_HRP, "age recipient"))


def parse_identity(text: str) -> X25519PrivateKey:
    """Parse an ``AGE-SECRET-KEY-1...`` identity; raise :class:`AgeError` if it is not one."""
    return X25519PrivateKey.from_private_bytes(_bech32_key(text, _IDENTITY_HRP, "age identity"))


# Primitives --------------------------------------------------------------------------------


def _b64encode(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")  # age v1 §Conventions: base64 without padding


def _b64decode(text: bytes, where: str) -> bytes:
    """age v1 §Conventions: decoders MUST reject non-canonical encodings and '=' padding."""
    if text.translate(None, _B64) or len(text) % 4 == 1:
        raise _malformed(f"{where} is not unpadded base64")
    raw = base64.b64decode(text + b"=" * (-len(text) % 4))
    if _b64encode(raw) != text:
        raise _malformed(f"{where} is not canonical base64 (non-zero trailing bits)")
    return raw


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """age v1 §Conventions: HKDF-SHA-256, Extract with salt then Expand with info, 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=salt, info=info).derive(ikm)


def _header_mac(file_key: bytes, covered: bytes) -> bytes:
    """age v1 §Header MAC: HMAC-SHA-256 keyed with HKDF(file key, salt empty, "header")."""
    mac = hmac.HMAC(_hkdf(file_key, b"", b"header"), hashes.SHA256())
    mac.update(covered)
    return mac.finalize()


def _wrap_key(secret: X25519PrivateKey, peer: bytes, salt: bytes, where: str) -> bytes:
    """age v1 §X25519 recipient stanza: HKDF(X25519(secret, peer), share || recipient)."""
    try:
        shared = secret.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:  # OpenSSL refuses to return an all-zero shared secret
        shared = bytes(_KEY_BYTES)
    if stdlib_hmac.compare_digest(shared, bytes(_KEY_BYTES)):  # MUST abort on all 0x00
        raise _malformed(f"{where} is a low-order X25519 point (all-zero shared secret)")
    return _hkdf(shared, salt, _X25519_INFO)


def _chunk_nonce(counter: int, flag: bytes) -> bytes:
    """age v1 §Payload: 11-byte big-endian chunk counter, then 0x01 for the final chunk."""
    return counter.to_bytes(11, "big") + flag


def _chunks(buf: bytearray, view: memoryview, size: int) -> Iterator[tuple[_Buffer, int]]:
    """Yield (chunk, bytes after it) for each ``size``-byte chunk that more data follows (so
    it cannot be the final one); keep the rest, 1..size bytes, in ``buf``. Few copies."""
    if buf:  # complete the buffered chunk first
        take = min(size - len(buf), len(view))
        buf += view[:take]
        view = view[take:]
        if not view:
            return
        yield buf, len(view)
        buf.clear()
    whole = max(len(view) - 1, 0) // size
    for i in range(whole):
        yield view[i * size : (i + 1) * size], len(view) - (i + 1) * size
    buf += view[whole * size :]


# Header ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stanza:
    line: int  # 1-based header line of the "->" line
    args: list[bytes]
    body: bytes


def _x25519_stanza(key: X25519PublicKey, file_key: bytes, rng: Callable[[int], bytes]) -> bytes:
    """age v1 §X25519 recipient stanza: a fresh ephemeral secret per stanza and file."""
    ephemeral = X25519PrivateKey.from_private_bytes(rng(_KEY_BYTES))
    share = ephemeral.public_key().public_bytes_raw()
    public = key.public_bytes_raw()
    wrap = _wrap_key(ephemeral, public, share + public, "a recipient key")
    body = _b64encode(ChaCha20Poly1305(wrap).encrypt(_ZERO_NONCE, file_key, None))
    # The body wraps at 64 columns; its final line is shorter than 64, possibly empty.
    rows = [body[i : i + 64] + b"\n" for i in range(0, len(body) + 1, 64)]
    return b"-> X25519 " + _b64encode(share) + b"\n" + b"".join(rows)


def _parse_stanza(lines: list[bytes], i: int) -> tuple[_Stanza, int]:
    """age v1 §ABNF: arg-line *full-line final-line; return the stanza and the next index."""
    first, args = i + 1, lines[i][3:].split(b" ")
    if not lines[i].startswith(b"-> "):
        raise _malformed(f"age header line {first}: expected a '-> ' stanza or the '--- ' MAC")
    if any(not arg or arg.translate(None, _VCHAR) for arg in args):
        raise _malformed(f"age header line {first}: a stanza argument is empty or not VCHAR")
    rows: list[bytes] = []
    while not rows or len(rows[-1]) == 64:
        i += 1
        if i >= len(lines) - 1 or len(lines[i]) > 64 or lines[i].translate(None, _B64):
            where = f"age header line {i + 1} (stanza of line {first})"
            raise _malformed(f"{where}: expected a base64 body line, the last under 64 columns")
        rows.append(lines[i])
    body = _b64decode(b"".join(rows), f"age header: body of the stanza on line {first}")
    return _Stanza(first, args, body), i + 1


def _parse_header(header: bytes) -> tuple[list[_Stanza], bytes, bytes]:
    """Parse ``header`` (through the MAC line's LF) by the age v1 §ABNF; return the stanzas,
    the MAC and the bytes it covers (age v1 §Header MAC: up to and including "---")."""
    lines = header.split(b"\n")[:-1]
    if lines[0] != _VERSION_LINE:
        raise _malformed(f"age header line 1: {lines[0][:40]!r} is not 'age-encryption.org/v1'")
    stanzas, i = [], 1
    while i < len(lines) - 1:
        stanza, i = _parse_stanza(lines, i)
        stanzas.append(stanza)
    end = lines[-1]
    if not stanzas or len(end) != 47 or not end.startswith(b"--- "):
        raise _malformed(f"age header line {len(lines)}: expected stanzas, then '--- <MAC>'")
    mac = _b64decode(end[4:], f"age header line {len(lines)}: the MAC")
    return stanzas, mac, header[: len(header) - len(end) + 2]


def _x25519_share(stanza: _Stanza) -> bytes:
    """age v1 §X25519 recipient stanza: two arguments, a 32-byte share and a 32-byte body."""
    where = f"age header line {stanza.line}: X25519 stanza"
    if len(stanza.args) != 2:
        raise _malformed(f"{where} has {len(stanza.args) - 1} arguments instead of 1")
    share = _b64decode(stanza.args[1], f"{where} ephemeral share")
    if len(share) != _KEY_BYTES or len(stanza.body) != _FILE_KEY_BYTES + _TAG:
        raise _malformed(f"{where}: its share or its body is not 32 bytes")
    return share


def _unwrap(stanzas: list[_Stanza], identities: Identities) -> bytes:
    """Return the file key from the first X25519 stanza that opens with one of
    ``identities`` (a node that rotated its key holds every earlier one, ADR 0018)."""
    if len(stanzas) > 1 and any(s.args[0] == b"scrypt" for s in stanzas):
        raise _malformed("age header: an scrypt stanza must be the only stanza")
    ours = [(s, _x25519_share(s)) for s in stanzas if s.args[0] == b"X25519"]
    keys = (identities,) if isinstance(identities, X25519PrivateKey) else tuple(identities)
    for identity in keys:
        public = identity.public_key().public_bytes_raw()
        for stanza, share in ours:
            where = f"age header line {stanza.line}: the X25519 share"
            wrap = _wrap_key(identity, share, share + public, where)
            try:
                return ChaCha20Poly1305(wrap).decrypt(_ZERO_NONCE, stanza.body, None)
            except InvalidTag:
                continue  # addressed to another recipient
    tried = f"tried {len(ours)} X25519 stanza(s) of {len(stanzas)}"
    message = "no recipient stanza in this age header opens with the given identity"
    raise _tampered(f"{message} (wrong key?): {tried}", _WRONG_KEY)


def _open_header(header: bytes, identity: Identities) -> bytes:
    """Parse the header, unwrap the file key, check the header MAC; return the file key."""
    stanzas, mac, covered = _parse_header(header)
    file_key = _unwrap(stanzas, identity)
    if not stdlib_hmac.compare_digest(_header_mac(file_key, covered), mac):
        raise _tampered("age header MAC does not match: the header was altered")
    return file_key


def header_length(src: BinaryIO) -> int:
    """Read and check an age header from ``src`` without keys; return its length, which
    includes the payload nonce as :attr:`Encryptor.header` does. ``src`` is left after it."""
    lines: list[bytes] = []
    while not lines or not lines[-1].startswith(b"---"):
        lines.append(src.readline(_MAX_HEADER_BYTES + 1 - sum(map(len, lines))))
        if sum(map(len, lines)) > _MAX_HEADER_BYTES or not lines[-1].endswith(b"\n"):
            raise _malformed(f"age header is truncated or over {_MAX_HEADER_BYTES} bytes")
    _parse_header(b"".join(lines))
    if len(src.read(_NONCE_BYTES)) != _NONCE_BYTES:
        raise _malformed("age file is truncated inside its payload nonce")
    return sum(map(len, lines)) + _NONCE_BYTES


# Payload -----------------------------------------------------------------------------------


class Output(Protocol):
    """Where sealed or opened chunks go: ``fill`` hands ``produce`` a writable view of ``size``
    bytes (:class:`accord.evidence.sink.Sink` hands it a slice of its staging buffer), and
    keeps them only if ``produce`` returns."""

    def fill(self, size: int, produce: Callable[[memoryview], object]) -> None: ...


class _Collected:
    """An :class:`Output` into memory, for ``update`` and ``finalize``."""

    def __init__(self) -> None:
        self._parts: list[bytearray] = []

    def fill(self, size: int, produce: Callable[[memoryview], object]) -> None:
        part = bytearray(size)
        produce(memoryview(part))
        self._parts.append(part)

    def joined(self) -> bytes:
        return b"".join(self._parts)


class _Streaming(ABC):
    """``update``/``finalize`` returning bytes, over the ``*_into`` methods that write into an
    :class:`Output` (which evidence sealing and verification use, to avoid the copies)."""

    @abstractmethod
    def update_into(self, data: bytes | memoryview, out: Output) -> None: ...

    @abstractmethod
    def finalize_into(self, out: Output) -> None: ...

    def update(self, data: bytes | memoryview) -> bytes:
        out = _Collected()
        self.update_into(data, out)
        return out.joined()

    def finalize(self) -> bytes:
        out = _Collected()
        self.finalize_into(out)
        return out.joined()


class Encryptor(_Streaming):
    """Encrypt one age file to X25519 recipients: write :attr:`header`, then what ``update``
    returns, then what ``finalize`` returns. ``file_key`` and ``rng`` are for tests."""

    def __init__(
        self,
        recipients: Sequence[X25519PublicKey],
        *,
        file_key: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not recipients:
            raise AgeError("an age file needs at least one recipient", advice=_BAD_KEY)
        key = rng(_FILE_KEY_BYTES) if file_key is None else file_key  # age v1 §File key
        if len(key) != _FILE_KEY_BYTES:
            raise AgeError("the age file key must be 16 bytes", advice=_MISUSE)
        stanzas = b"".join(_x25519_stanza(r, key, rng) for r in recipients)
        covered = _VERSION_LINE + b"\n" + stanzas + b"---"
        nonce = rng(_NONCE_BYTES)  # age v1 §Payload: a new nonce for each file
        mac = _b64encode(_header_mac(key, covered))
        self.header: bytes = covered + b" " + mac + b"\n" + nonce
        self._aead = ChaCha20Poly1305(_hkdf(key, nonce, b"payload"))
        self._buf = bytearray()  # 0..CHUNK plaintext bytes, the final chunk's candidates
        self._counter, self._done = 0, False

    def update_into(self, data: bytes | memoryview, out: Output) -> None:
        """Buffer ``data``; encrypt straight into ``out`` the chunks now known not to be the
        final one."""
        if self._done:
            raise AgeError("Encryptor.update() after finalize()", advice=_MISUSE)
        for chunk, _ in _chunks(self._buf, memoryview(data).cast("B"), CHUNK):
            self._seal(chunk, _NOT_LAST, out)

    def finalize_into(self, out: Output) -> None:
        """The final chunk (flag 0x01); it is empty only if the whole payload is."""
        if self._done:
            raise AgeError("Encryptor.finalize() called twice", advice=_MISUSE)
        self._done = True
        self._seal(self._buf, _LAST, out)

    def _seal(self, chunk: _Buffer, flag: bytes, out: Output) -> None:
        nonce, aead = _chunk_nonce(self._counter, flag), self._aead
        out.fill(len(chunk) + _TAG, lambda room: aead.encrypt_into(nonce, chunk, None, room))
        self._counter += 1


class _PayloadReader:
    """age v1 §Payload: STREAM decryption of the chunks after the header and nonce."""

    def __init__(self, aead: ChaCha20Poly1305) -> None:
        self._aead = aead
        self._buf = bytearray()  # at most one sealed chunk
        self._counter, self._trailing = 0, -1  # bytes after a full-size final chunk, or -1

    def update_into(self, view: memoryview, out: Output) -> None:
        """Open every chunk that more data follows (so it cannot be the final one)."""
        if self._trailing >= 0:
            self._trailing += len(view)
            return
        for chunk, after in _chunks(self._buf, view, _SEALED):
            if self._open(chunk, out, final=False):  # age v1 §Payload: nothing may follow
                self._trailing = after  # the final chunk; the generator is dropped
                return
            self._counter += 1

    def finalize_into(self, out: Output) -> None:
        """Open the final chunk, or say why the file does not end as age v1 §Payload says."""
        chunk, index = bytes(self._buf), self._counter
        if self._trailing >= 0:
            raise _tampered(f"age file has {self._trailing} bytes after its final chunk {index}")
        if not chunk:  # age v1 §Payload: MUST signal an error at EOF without a final chunk
            raise self._truncated(index)
        if len(chunk) < _TAG or (len(chunk) == _TAG and index > 0):
            why = "an empty final chunk after others" if len(chunk) == _TAG else "truncated"
            raise _tampered(f"age payload chunk {index} ({len(chunk)} bytes) is {why}")
        if not self._open(chunk, out, final=True):  # valid, not final: the rest was cut off
            raise self._truncated(index + 1)

    def _open(self, chunk: _Buffer, out: Output, *, final: bool) -> bool:
        """Open the current chunk into ``out`` if its flag is the expected one; return whether
        it is flagged final. A chunk that authenticates only with the other flag is not
        released (the caller reports it), and one that authenticates with neither raises."""
        aead, size = self._aead, len(chunk) - _TAG
        expected, other = (_LAST, _NOT_LAST) if final else (_NOT_LAST, _LAST)
        nonce = _chunk_nonce(self._counter, expected)
        try:  # straight into ``out``, which keeps nothing of a chunk that fails
            out.fill(size, lambda room: aead.decrypt_into(nonce, chunk, None, room))
        except InvalidTag:
            pass
        else:
            return final
        try:
            aead.decrypt(_chunk_nonce(self._counter, other), chunk, None)
        except InvalidTag:
            raise self._chunk_failed(len(chunk), last=final) from None
        return not final

    def _truncated(self, chunks: int) -> PackageTampered:
        where = f"it ends after {chunks} chunk(s), plaintext byte {chunks * CHUNK}"
        return _tampered(f"age file is truncated: no final chunk ({where})", _TRUNCATED)

    def _chunk_failed(self, sealed: int, *, last: bool) -> PackageTampered:
        start = self._counter * CHUNK
        why = "the ciphertext was altered or chunks were swapped"
        if last:
            why += ", or the file was cut mid-chunk or extended after its final chunk"
        return _tampered(
            f"age payload chunk {self._counter} (bytes {start}..{start + sealed - _TAG} of the "
            f"plaintext) failed authentication: {why}"
        )


class Decryptor(_Streaming):
    """Decrypt one age file, fed in slices of any size, releasing only authenticated chunks.
    After any error reject the whole file, including plaintext already released."""

    def __init__(self, identity: Identities) -> None:
        self._identity = identity
        self._buf, self._scan = bytearray(), 0  # the header so far; where to look for "---"
        self._payload: _PayloadReader | None = None
        self._state: Literal["open", "done", "failed"] = "open"

    def update_into(self, data: bytes | memoryview, out: Output) -> None:
        """Feed the next slice of the age file; decrypt straight into ``out`` the chunks it
        completes that authenticate."""
        if self._state != "open":
            raise AgeError(f"Decryptor.update() on a {self._state} file", advice=_MISUSE)
        try:
            view = memoryview(data).cast("B")
            if self._payload:
                self._payload.update_into(view, out)
            else:
                self._header(view, out)
        except EvidenceError:
            self._state = "failed"
            raise

    def finalize_into(self, out: Output) -> None:
        """Check the end of the file and decrypt the final chunk into ``out``."""
        if self._state != "open":
            raise AgeError(f"Decryptor.finalize() on a {self._state} file", advice=_MISUSE)
        self._state = "failed"
        if self._payload is None:
            raise _tampered("age file is truncated inside its header", _TRUNCATED)
        self._payload.finalize_into(out)
        self._state = "done"

    def _header(self, view: memoryview, out: Output) -> None:
        buf = self._buf
        buf += view
        if not buf.startswith(_VERSION_PREFIX[: len(buf)]):
            raise _malformed("not an age file: it does not start with 'age-encryption.org/'")
        mark = buf.find(b"\n---", self._scan)  # the MAC line is the first to start "---"
        self._scan = max(len(buf) - 3, 0) if mark < 0 else mark
        end = buf.find(b"\n", mark + 1) + 1 if mark >= 0 else 0
        if not end and len(buf) > _MAX_HEADER_BYTES:
            raise _malformed(f"age header is over {_MAX_HEADER_BYTES} bytes")
        if not end or len(buf) < end + _NONCE_BYTES:
            return
        file_key = _open_header(bytes(buf[:end]), self._identity)
        nonce = bytes(buf[end : end + _NONCE_BYTES])  # age v1 §Payload: keys the payload
        self._payload = _PayloadReader(ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload")))
        rest = bytes(buf[end + _NONCE_BYTES :])
        buf.clear()
        self._payload.update_into(memoryview(rest), out)


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, recipients: Sequence[X25519PublicKey], *, read_size: int = _READ
) -> None:
    """Encrypt all of ``src`` into ``dst`` as one age file, in constant memory."""
    encryptor = Encryptor(recipients)
    dst.write(encryptor.header)
    while block := src.read(read_size):
        dst.write(encryptor.update(block))
    dst.write(encryptor.finalize())


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, identity: Identities, *, read_size: int = _READ
) -> None:
    """Decrypt the age file ``src`` into ``dst``; after an error, discard what ``dst`` got."""
    decryptor = Decryptor(identity)
    while block := src.read(read_size):
        dst.write(decryptor.update(block))
    dst.write(decryptor.finalize())
