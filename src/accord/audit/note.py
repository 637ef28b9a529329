"""C2SP signed notes, checkpoints and cosignatures: bytes in, verified objects out, no I/O.

Three specifications, implemented exactly and parsed strictly:

* c2sp.org/signed-note: a text ending in a newline, a blank line, then signature lines
  ``— <key name> base64(key ID || signature)``. Ed25519 signatures are type 0x01.
* c2sp.org/tlog-checkpoint: the note text of a log's tree head (origin, tree size, root hash,
  optional extension lines). The log's key name is the origin.
* c2sp.org/tlog-cosignature: a witness's ``cosignature/v1`` over a checkpoint, type 0x04,
  signing ``cosignature/v1\\ntime <seconds>\\n`` followed by the checkpoint text.

Every check raises :class:`~accord.errors.CheckpointInvalid` naming the line and the rule;
nothing returns a bool. Limits (1 MiB per note, 100 signature lines, 8 KiB per signature line,
255 bytes per origin or key name) are always on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import CheckpointInvalid

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "checkpoint_of",
    "cosign",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint_body",
    "sign_checkpoint",
    "sign_note",
    "signature_lines",
    "verify_cosignature",
]

# C2SP signed-note §Signature types.
SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04

# C2SP signed-note §Format: verifiers SHOULD limit signatures, MUST accept at least 16.
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100  # the same cap as golang.org/x/mod/sumdb/note Open
# Room for a post-quantum signature line (signed-note: "up to nearly 5kB") in base64.
MAX_SIGNATURE_LINE_BYTES = 8192
# tlog-cosignature §ML-DSA-44 signed message: origin and cosigner name are opaque<1..2^8-1>.
MAX_NAME_BYTES = 255
MAX_TREE_SIZE = 2**64 - 1
MAX_COSIGNATURE_TIME = 2**63 - 1  # tlog-cosignature §Format: timestamp MUST NOT exceed 2^63 - 1

_SIG_PREFIX = "\u2014 "  # em dash U+2014, space U+0020
_ED25519_SIGNATURE_BYTES = 64
_COSIGNATURE_BYTES = 8 + _ED25519_SIGNATURE_BYTES
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_HEX_KEY_ID = re.compile("[0-9a-fA-F]{8}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SECOND = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(seconds=1)

_MALFORMED = "The note was altered or written by a non-conforming signer; fetch it again."
_UNTRUSTED = "Do not trust this note; fetch it again and compare with what others see."
_BAD_INPUT = "Fix the value before signing; the same rule is enforced when notes are opened."
_BAD_CHECKPOINT = "Checkpoints follow c2sp.org/tlog-checkpoint; correct what produced this one."
_BAD_KEY = "Copy the verifier key again from its publisher; it must be <name>+<key ID>+<key>."


def _invalid(message: str, advice: str = _MALFORMED) -> CheckpointInvalid:
    return CheckpointInvalid(message, advice=advice)


# Keys --------------------------------------------------------------------------------------


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, signature_type: int, public: bytes) -> bytes:
    # C2SP signed-note §Signatures: SHA-256(key name || 0x0A || signature type || public key),
    # first four bytes; tlog-cosignature §Format uses type 0x04 for Ed25519 cosignatures.
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public).digest()[:4]


def _check_name(name: str, where: str, advice: str = _BAD_INPUT) -> None:
    """C2SP signed-note §Format: key names are non-empty, without Unicode spaces or '+'."""
    if not name:
        raise _invalid(f"{where}: key name is empty (C2SP signed-note §Format)", advice)
    if any(c.isspace() or c == "+" for c in name) or _CONTROL.search(name):
        raise _invalid(
            f"{where}: key name {name[:80]!r} contains a space, '+' or control character "
            "(C2SP signed-note §Format)",
            advice,
        )


def _check_own_name(name: str, where: str) -> None:
    """A name Accord signs or trusts: also at most 255 bytes, so that the same name can serve
    an ML-DSA-44 cosigner (tlog-cosignature: cosigner_name<1..2^8-1>)."""
    _check_name(name, where)
    if len(_utf8(name, where, _BAD_INPUT)) > MAX_NAME_BYTES:
        raise _invalid(f"{where}: key name is over {MAX_NAME_BYTES} bytes", _BAD_INPUT)


def _vkey(name: str, signature_type: int, public: bytes) -> str:
    key_id = _key_id(name, signature_type, public).hex()
    return f"{name}+{key_id}+{base64.b64encode(bytes([signature_type]) + public).decode()}"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted public key and its name: a log (type 0x01) or a witness (type 0x04)."""

    name: str
    key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_own_name(self.name, "verifier")

    def __hash__(self) -> int:
        return hash((self.name, _raw(self.key)))

    @property
    def key_id(self) -> bytes:
        """Key ID of Ed25519 note signatures (C2SP signed-note §Ed25519 signatures)."""
        return _key_id(self.name, SIG_ED25519, _raw(self.key))

    @property
    def cosignature_key_id(self) -> bytes:
        """Key ID of this key's cosignature/v1 lines (C2SP tlog-cosignature §Format)."""
        return _key_id(self.name, SIG_COSIGNATURE_V1, _raw(self.key))

    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 || public key)>``, as Go's sumdb/note writes it."""
        return _vkey(self.name, SIG_ED25519, _raw(self.key))

    def cosignature_vkey(self) -> str:
        """The same key as a type 0x04 vkey, the form witnesses publish (tlog-cosignature)."""
        return _vkey(self.name, SIG_COSIGNATURE_V1, _raw(self.key))

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a vkey of type 0x01 or 0x04, checking the declared key ID against the key."""
        name, _, rest = vkey.partition("+")
        declared, plus, encoded = rest.partition("+")
        if not plus:
            raise _invalid("verifier key is not <name>+<hex key ID>+<base64 key>", _BAD_KEY)
        _check_own_name(name, "verifier key")
        if not _HEX_KEY_ID.fullmatch(declared):
            raise _invalid(f"verifier key: key ID {declared[:20]!r} is not 8 hex digits", _BAD_KEY)
        material = _b64decode(encoded, "verifier key")
        signature_type, public = _key_material(material)
        if _key_id(name, signature_type, public) != bytes.fromhex(declared):
            raise _invalid(
                f"verifier key: declared key ID {declared} does not match the name and key "
                "(C2SP signed-note §Signatures)",
                _BAD_KEY,
            )
        return cls(name, Ed25519PublicKey.from_public_bytes(public))


def _key_material(material: bytes) -> tuple[int, bytes]:
    if not material or material[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1):
        kind = f"0x{material[0]:02x}" if material else "missing"
        raise _invalid(
            f"verifier key: signature type {kind} is not supported; Accord verifies 0x01 "
            "(Ed25519) and 0x04 (Ed25519 cosignature/v1)",
            _BAD_KEY,
        )
    if len(material) != 33:
        raise _invalid(
            f"verifier key: Ed25519 public key is {len(material) - 1} bytes, not 32", _BAD_KEY
        )
    return material[0], material[1:]


@dataclass(frozen=True)
class NoteSigner:
    """A log's or witness's private key and the key name its signature lines carry."""

    name: str
    key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_own_name(self.name, "signer")

    @property
    def key_id(self) -> bytes:
        return self.verifier().key_id

    @property
    def cosignature_key_id(self) -> bytes:
        return self.verifier().cosignature_key_id

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key.public_key())

    def vkey(self) -> str:
        return self.verifier().vkey()


# Checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as C2SP tlog-checkpoint note text; validated when built."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "line 1 (origin)")
        if len(_utf8(self.origin, "line 1 (origin)")) > MAX_NAME_BYTES:
            raise _invalid(f"line 1 (origin) is over {MAX_NAME_BYTES} bytes", _BAD_CHECKPOINT)
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise _invalid(
                f"line 2 (tree size) {self.size!r} is not in [0, 2^64-1]", _BAD_CHECKPOINT
            )
        if len(self.root) != 32:
            raise _invalid(
                f"line 3 (root hash) is {len(self.root)} bytes; an RFC 6962 SHA-256 root is 32 "
                "(C2SP tlog-checkpoint §Note text 3)",
                _BAD_CHECKPOINT,
            )
        for number, extension in enumerate(self.extensions, start=4):
            _check_line(extension, f"line {number} (extension)")

    def body(self) -> bytes:
        """The note text: one line each for origin, size, root and extensions, each ending
        in a newline (C2SP tlog-checkpoint §Note text)."""
        root = base64.b64encode(self.root).decode()
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines).encode()


def _check_line(line: str, where: str) -> None:
    # tlog-checkpoint §Note text: lines are non-empty; signed-note §Format: no control chars.
    if not line:
        raise _invalid(f"{where} is empty; checkpoint lines MUST be non-empty", _BAD_CHECKPOINT)
    if "\n" in line or _CONTROL.search(line):
        raise _invalid(f"{where} contains a newline or control character", _BAD_CHECKPOINT)
    _utf8(line, where)


def _utf8(value: str, where: str, advice: str = _BAD_CHECKPOINT) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError as exc:
        raise _invalid(f"{where} is not encodable as UTF-8", advice) from exc


def parse_checkpoint_body(text: bytes) -> Checkpoint:
    """Parse checkpoint note text strictly (C2SP tlog-checkpoint §Note text)."""
    decoded = _decode(text, "checkpoint")
    if not decoded.endswith("\n"):
        raise _invalid("checkpoint text does not end with a newline (C2SP signed-note §Format)")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise _invalid(
            f"checkpoint has {len(lines)} line(s); origin, tree size and root hash are required "
            "(C2SP tlog-checkpoint §Note text)"
        )
    origin, size, root, *extensions = lines
    _check_line(origin, "line 1 (origin)")
    return Checkpoint(origin, _parse_size(size), _parse_root(root), tuple(extensions))


def _parse_size(line: str) -> int:
    rule = "(C2SP tlog-checkpoint §Note text 2: ASCII decimal, no leading zeroes)"
    shown = repr(line[:30])
    if not re.fullmatch("[0-9]+", line):
        raise _invalid(f"line 2 (tree size) {shown} is not an ASCII decimal number {rule}")
    if len(line) > 1 and line[0] == "0":
        raise _invalid(f"line 2 (tree size) {shown} has a leading zero {rule}")
    if len(line) > len(str(MAX_TREE_SIZE)) or int(line) > MAX_TREE_SIZE:
        raise _invalid(f"line 2 (tree size) {shown} is over 2^64-1")
    return int(line)


def _parse_root(line: str) -> bytes:
    root = _b64decode(line, "line 3 (root hash)")
    if len(root) != 32:
        raise _invalid(
            f"line 3 (root hash) is {len(root)} bytes; an RFC 6962 SHA-256 root is 32 "
            "(C2SP tlog-checkpoint §Note text 3)"
        )
    return root


# Signed notes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    name: str
    key_id: bytes
    signature: bytes  # after the key ID
    text: str  # the line as written, without its newline


@dataclass(frozen=True)
class _Note:
    text: str
    lines: tuple[_Line, ...]


def _decode(data: bytes, what: str, advice: str = _MALFORMED) -> str:
    # C2SP signed-note §Format: valid UTF-8, no ASCII control characters other than newline.
    if len(data) > MAX_NOTE_BYTES:
        raise _invalid(f"{what} is {len(data)} bytes; the limit is {MAX_NOTE_BYTES}", advice)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"{what} is not valid UTF-8 at byte {exc.start} (C2SP signed-note §Format)", advice
        ) from exc
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise _invalid(
            f"{what} line {line} contains control character U+{ord(bad.group()):04X} "
            "(C2SP signed-note §Format)",
            advice,
        )
    return text


def _b64decode(value: str, where: str) -> bytes:
    # Standard base64 (RFC 4648 §4), in its one canonical spelling.
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise _invalid(f"{where} is not standard base64 (RFC 4648 §4)") from exc
    if base64.b64encode(raw).decode() != value:
        raise _invalid(f"{where} is not canonical base64 (RFC 4648 §3.5)")
    return raw


def _parse_note(note: bytes) -> _Note:
    """Split a signed note at its last blank line and parse every signature line."""
    text = _decode(note, "note")
    split = text.rfind("\n\n")
    if split < 0:
        raise _invalid("note has no blank line before its signatures (C2SP signed-note §Format)")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise _invalid("note has no signature lines (C2SP signed-note §Format)")
    if not block.endswith("\n"):
        raise _invalid("last signature line does not end with a newline (C2SP signed-note §Format)")
    raw_lines = block[:-1].split("\n")
    if len(raw_lines) > MAX_SIGNATURES:
        raise _invalid(f"note has {len(raw_lines)} signature lines; the limit is {MAX_SIGNATURES}")
    return _Note(body, tuple(_parse_line(line, n) for n, line in enumerate(raw_lines, 1)))


def _parse_line(line: str, number: int) -> _Line:
    where = f"signature line {number}"
    if len(line.encode()) > MAX_SIGNATURE_LINE_BYTES:
        raise _invalid(f"{where} is over {MAX_SIGNATURE_LINE_BYTES} bytes")
    if not line.startswith(_SIG_PREFIX):
        raise _invalid(
            f"{where} does not start with an em dash (U+2014) and a space "
            "(C2SP signed-note §Format)"
        )
    name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not space:
        raise _invalid(f"{where} has no space between key name and signature")
    _check_name(name, where, _MALFORMED)
    raw = _b64decode(encoded, f"{where} signature")
    if len(raw) < 5:
        raise _invalid(
            f"{where} carries {len(raw)} bytes; a 4-byte key ID and a signature are required "
            "(C2SP signed-note §Format)"
        )
    return _Line(name, raw[:4], raw[4:], line)


def _new_line(name: str, raw: bytes) -> _Line:
    return _Line(name, raw[:4], raw[4:], f"{_SIG_PREFIX}{name} {base64.b64encode(raw).decode()}")


def _emit(text: str, lines: tuple[_Line, ...], new: _Line) -> bytes:
    """Text, blank line, the kept lines, then ``new``; a line by the same key is replaced, as
    golang.org/x/mod/sumdb/note Sign does. The result is parsed again so limits hold."""
    kept = [line.text for line in lines if (line.name, line.key_id) != (new.name, new.key_id)]
    note = (text + "\n" + "".join(f"{line}\n" for line in (*kept, new.text))).encode()
    _parse_note(note)
    return note


def _find_line(note: _Note, name: str, key_id: bytes, kind: str) -> _Line:
    """The one line by (name, key ID). C2SP signed-note §Signatures: lines by other keys are
    ignored, even when they share the name or the ID (but not both)."""
    key = f"{name}+{key_id.hex()}"
    found = [line for line in note.lines if (line.name, line.key_id) == (name, key_id)]
    if len(found) > 1:
        raise _invalid(f"note has {len(found)} signature lines by key {key}; one is allowed")
    if found:
        return found[0]
    others = sorted({line.key_id.hex() for line in note.lines if line.name == name})
    hint = f"; lines named {name} carry key ID(s) {', '.join(others)}" if others else ""
    raise _invalid(f"note carries no {kind} by key {key}{hint}", _UNTRUSTED)


def _verify(key: Ed25519PublicKey, signature: bytes, message: bytes, what: str) -> None:
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        raise _invalid(
            f"{what} is {len(signature)} bytes; an Ed25519 signature is 64 (RFC 8032 §5.1.6)",
            _UNTRUSTED,
        )
    try:
        key.verify(signature, message)
    except InvalidSignature as exc:
        raise _invalid(f"{what} does not verify", _UNTRUSTED) from exc


def sign_note(text: bytes, signer: NoteSigner, *, existing: bytes | None = None) -> bytes:
    """Sign ``text`` (C2SP signed-note §Ed25519 signatures). With ``existing``, a signed note
    of the same text, its lines are kept and the new line is added after them."""
    body = _decode(text, "note text", _BAD_INPUT)
    if not body.endswith("\n"):
        raise _invalid(
            "note text does not end with a newline (C2SP signed-note §Format)", _BAD_INPUT
        )
    line = _new_line(signer.name, signer.key_id + signer.key.sign(text))
    if existing is None:
        return _emit(body, (), line)
    parsed = _parse_note(existing)
    if parsed.text != body:
        raise _invalid("the existing note's text differs from the text being signed", _BAD_INPUT)
    return _emit(body, parsed.lines, line)


def open_note(note: bytes, verifier: NoteVerifier) -> bytes:
    """Return the note text if ``verifier``'s Ed25519 signature on it is present and valid."""
    parsed = _parse_note(note)
    kind = "Ed25519 note signature (type 0x01)"
    line = _find_line(parsed, verifier.name, verifier.key_id, kind)
    key = f"{verifier.name}+{verifier.key_id.hex()}"
    _verify(verifier.key, line.signature, parsed.text.encode(), f"signature by key {key}")
    return parsed.text.encode()


def signature_lines(note: bytes) -> list[tuple[str, bytes]]:
    """Every signature line of a well-formed note as (key name, key ID || signature)."""
    return [(line.name, line.key_id + line.signature) for line in _parse_note(note).lines]


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> bytes:
    """The checkpoint signed by its log; the key name must be the origin."""
    if cp.origin != signer.name:
        raise _invalid(
            f"checkpoint origin {cp.origin!r} differs from the log key name {signer.name!r} "
            "(C2SP tlog-checkpoint §Signatures)",
            _BAD_INPUT,
        )
    return sign_note(cp.body(), signer)


def open_checkpoint(note: bytes, verifier: NoteVerifier) -> Checkpoint:
    """Verify the log's signature, then parse the checkpoint and check its origin."""
    return checkpoint_of(open_note(note, verifier), verifier)


def checkpoint_of(text: bytes, verifier: NoteVerifier) -> Checkpoint:
    """Parse the note text ``verifier``'s signature covers and check its origin."""
    checkpoint = parse_checkpoint_body(text)
    if checkpoint.origin != verifier.name:
        raise _invalid(
            f"checkpoint origin {checkpoint.origin[:80]!r} differs from the log key name "
            f"{verifier.name!r} (C2SP tlog-checkpoint §Signatures)",
            _UNTRUSTED,
        )
    return checkpoint


# Cosignatures ------------------------------------------------------------------------------


def _cosigned_message(timestamp: int, text: str) -> bytes:
    # C2SP tlog-cosignature §Ed25519 signed message: header line, time line, checkpoint text.
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def _unix_seconds(now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    seconds = (now - _EPOCH) // timedelta(seconds=1)
    if seconds < 0:
        raise ValueError("a cosignature time before 1970 is not a POSIX timestamp")
    return seconds


def cosign(note: bytes, witness: NoteSigner, now: datetime) -> bytes:
    """Add ``witness``'s cosignature/v1 line, made at ``now`` (truncated to whole seconds).

    Only signs; the witness protocol must verify the log's signature and consistency first.
    """
    parsed = _parse_note(note)
    parse_checkpoint_body(parsed.text.encode())
    timestamp = _unix_seconds(now)
    signature = witness.key.sign(_cosigned_message(timestamp, parsed.text))
    # tlog-cosignature §Format: key ID || timestamped_signature{u64 timestamp, signature}.
    raw = witness.cosignature_key_id + timestamp.to_bytes(8, "big") + signature
    return _emit(parsed.text, parsed.lines, _new_line(witness.name, raw))


def verify_cosignature(note: bytes, witness: NoteVerifier) -> datetime:
    """Return the time of ``witness``'s valid cosignature/v1 over this checkpoint.

    Checks the cosignature only: verify the log's signature with :func:`open_checkpoint`, and
    compare the time with your clock (tlog-cosignature §Format lets verifiers refuse the future).
    """
    parsed = _parse_note(note)
    parse_checkpoint_body(parsed.text.encode())
    kind = "cosignature/v1 (type 0x04)"
    line = _find_line(parsed, witness.name, witness.cosignature_key_id, kind)
    what = f"cosignature by key {witness.name}+{witness.cosignature_key_id.hex()}"
    if len(line.signature) != _COSIGNATURE_BYTES:
        raise _invalid(
            f"{what} is {len(line.signature)} bytes; timestamp and Ed25519 signature are 72 "
            "(C2SP tlog-cosignature §Format)",
            _UNTRUSTED,
        )
    timestamp = int.from_bytes(line.signature[:8], "big")
    if timestamp > MAX_COSIGNATURE_TIME:
        raise _invalid(f"{what} has timestamp {timestamp}, over 2^63-1 (tlog-cosignature §Format)")
    _verify(witness.key, line.signature[8:], _cosigned_message(timestamp, parsed.text), what)
    if timestamp > _LAST_SECOND:
        raise _invalid(f"{what} has timestamp {timestamp}, after the year 9999", _UNTRUSTED)
    return _EPOCH + timedelta(seconds=timestamp)
