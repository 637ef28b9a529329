"""RFC 9162 §2.1 Merkle tree hashing, proofs and their verification (pure: no I/O).

The tree is read through one callable, ``perfect(level, index)``: the hash of the perfect
subtree of ``2**level`` leaves that starts at leaf ``index * 2**level``. The log stores exactly
these hashes (one row per completed subtree), so every proof below costs O(log n) look-ups.
Any other subtree hash a proof needs is folded from at most log2(n) + 1 perfect ones
(:func:`range_hash`).

Verification raises :class:`~accord.errors.ProofInvalid` naming what failed; it never
returns a bool. Asking for a proof with an index or size out of range is a programming error
and raises :class:`ValueError`.

Sizes 0 and equal sizes (not covered by RFC 9162 §2.1.4, which defines proofs for
``0 < m < n``) follow transparency-dev/merkle, with one stricter rule:

- ``consistency_proof(m, m)`` and ``consistency_proof(0, n)`` are empty;
- ``verify_consistency(m, m, ...)`` wants an empty proof and equal roots;
- ``verify_consistency(0, n, ...)`` wants an empty proof and, unlike transparency-dev,
  an old root equal to :data:`EMPTY_ROOT` (the only root a tree of size 0 can have).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

from accord.errors import ProofInvalid

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = HASH()

SubtreeHash = Callable[[int, int], bytes]

_ADVICE = (
    "The proof, the tree sizes and the roots do not belong together: fetch the proof again "
    "for exactly these sizes; if it still fails, keep it as evidence that the log misbehaved."
)


# Hashing --------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``MTH({d(0)}) = HASH(0x00 || d(0))``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, in memory (tests and small trees).

    Pairs each level from the left and lifts an odd last node unchanged, which builds the
    same left-balanced tree as the recursive definition of RFC 9162 §2.1.1.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + level[len(paired) * 2 :]
    return level[0]


def perfect_from_leaves(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """An in-memory ``perfect(level, index)`` over the given leaf hashes (tests and small trees)."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def perfect(level: int, index: int) -> bytes:
        if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
            raise ValueError(
                f"no complete subtree at level {level}, index {index} "
                f"in a tree of {len(leaf_hashes)} leaves"
            )
        return levels[level][index]

    return perfect


# Subtree hashes -------------------------------------------------------------------------------


def _split(n: int) -> int:
    """RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (for ``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(start: int, end: int, perfect: SubtreeHash) -> bytes:
    """MTH of the leaves ``[start, end)``, with at most log2(end - start) + 1 calls to ``perfect``.

    Supported ranges: ``0 <= start < end`` with ``start`` a multiple of the largest power of
    two ``<= end - start``. Every range the recursions of RFC 9162 §2.1.3.1 (PATH) and
    §2.1.4.1 (PROOF) hash qualifies (there ``start`` is even a multiple of the smallest power
    of two ``>= end - start``), as does ``[0, size)`` for every size. Other ranges raise
    :class:`ValueError`: their MTH needs subtrees that are not perfect and aligned.
    """
    size = end - start
    if start < 0 or size <= 0 or start % (1 << (size.bit_length() - 1)):
        raise ValueError(f"range [{start}, {end}) is not an aligned subtree range")
    # RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest
    # power of two < n. D[0:k] is perfect, so the tree is one perfect subtree per set bit
    # of the size, highest first, folded from the right.
    parts = []
    offset = start
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            parts.append(perfect(level, offset >> level))
            offset += 1 << level
    digest = parts.pop()
    while parts:
        digest = node_hash(parts.pop(), digest)
    return digest


def root_hash(size: int, perfect: SubtreeHash) -> bytes:
    """MTH of the first ``size`` leaves; :data:`EMPTY_ROOT` for 0."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return range_hash(0, size, perfect) if size else EMPTY_ROOT


# Proofs ---------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, perfect: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]), lowest sibling first.

    At most 2 * log2(size) calls to ``perfect``: every sibling is perfect except the first
    right-hand one, which is folded from at most log2(size) perfect subtrees.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    siblings = []
    low, high = 0, size
    while high - low > 1:  # PATH(0, {d(0)}) = {}
        middle = low + _split(high - low)
        if index < middle:  # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            siblings.append(range_hash(middle, high, perfect))
            high = middle
        else:  # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            siblings.append(range_hash(low, middle, perfect))
            low = middle
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, new_size: int, perfect: SubtreeHash) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[new_size]); empty when ``old_size`` is 0 or equal.

    At most 2 * log2(new_size) + 1 calls to ``perfect``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    hashes = []
    low, high, m, known = 0, new_size, old_size, True
    while m != high - low:
        middle = low + _split(high - low)
        if m <= middle - low:  # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            hashes.append(range_hash(middle, high, perfect))
            high = middle
        else:  # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            hashes.append(range_hash(low, middle, perfect))
            m, low, known = m - (middle - low), middle, False
    if not known:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with true it is {}
        hashes.append(range_hash(low, high, perfect))
    hashes.reverse()
    return hashes


# Verification ---------------------------------------------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofInvalid(f"{name} has {len(value)} bytes, expected {HASH_SIZE}", advice=_ADVICE)


def _check_proof(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        _check_hash(f"proof hash {position}", value)


def _sides(fn: int, sn: int) -> Iterator[bool]:
    """The bookkeeping of RFC 9162 §2.1.3.2 step 4 and §2.1.4.2 step 6 without the hashing:
    for each proof hash in turn, whether it is the left child (``LSB(fn)`` set or
    ``fn == sn``). It yields exactly as many sides as a valid proof has hashes; the RFC's
    "if sn is 0, fail" and final "sn is 0" checks become the length check of the callers.
    """
    while sn:
        left = bool(fn & 1) or fn == sn
        yield left
        if left:
            while fn and not fn & 1:  # until either LSB(fn) is set or fn is 0
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1  # finally, right-shift both fn and sn one time


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: ``leaf`` (a leaf HASH) is entry ``index`` of the tree ``(size, root)``.

    Raises :class:`~accord.errors.ProofInvalid` saying what does not hold.
    """
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root)
    _check_proof(proof)
    if not 0 <= index < size:  # step 1
        raise ProofInvalid(f"leaf index {index} is not in a tree of size {size}", advice=_ADVICE)
    sides = list(_sides(index, size - 1))  # step 2: fn = leaf_index, sn = tree_size - 1
    if len(proof) != len(sides):
        raise ProofInvalid(
            f"an inclusion proof for leaf {index} in a tree of size {size} has "
            f"{len(sides)} hashes, this one has {len(proof)}",
            advice=_ADVICE,
        )
    r = leaf  # step 3
    for p, left in zip(proof, sides, strict=True):  # step 4
        r = node_hash(p, r) if left else node_hash(r, p)
    if r != root:  # step 5
        raise ProofInvalid(
            f"the inclusion proof for leaf {index} leads to root {r.hex()}, "
            f"not to the root {root.hex()} of the tree of size {size}",
            advice=_ADVICE,
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    Sizes 0 and equal sizes are handled as the module docstring says. Raises
    :class:`~accord.errors.ProofInvalid` saying what does not hold.
    """
    _check_hash("old root hash", old_root)
    _check_hash("new root hash", new_root)
    _check_proof(proof)
    if not 0 <= old_size <= new_size:
        raise ProofInvalid(
            f"old size {old_size} is not between 0 and new size {new_size}", advice=_ADVICE
        )
    if old_size in (0, new_size):
        _verify_trivial(old_size, new_size, old_root, new_root, proof)
        return
    if not proof:  # step 1
        raise ProofInvalid(
            f"the consistency proof from size {old_size} to size {new_size} is empty",
            advice=_ADVICE,
        )
    seeded = old_size & (old_size - 1) == 0  # step 2: first is an exact power of 2, so
    path = [old_root, *proof] if seeded else list(proof)  # prepend first_hash
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    sides = list(_sides(fn, sn))
    expected = len(sides) + (0 if seeded else 1)
    if len(proof) != expected:
        raise ProofInvalid(
            f"a consistency proof from size {old_size} to size {new_size} has {expected} "
            f"hashes, this one has {len(proof)}",
            advice=_ADVICE,
        )
    fr = sr = path[0]  # step 5
    for c, left in zip(path[1:], sides, strict=True):  # step 6
        if left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    _check_root("old", old_size, fr, old_root)  # step 7
    _check_root("new", new_size, sr, new_root)


def _verify_trivial(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Nothing to prove between equal sizes or from the empty tree: the proof must be empty."""
    if proof:
        raise ProofInvalid(
            f"a consistency proof from size {old_size} to size {new_size} is empty, "
            f"this one has {len(proof)} hashes",
            advice=_ADVICE,
        )
    if old_size == 0 and old_root != EMPTY_ROOT:  # RFC 9162 §2.1.1: MTH({}) = HASH()
        raise ProofInvalid(
            f"the tree of size 0 has root {EMPTY_ROOT.hex()}, not {old_root.hex()}",
            advice=_ADVICE,
        )
    if old_size == new_size and old_root != new_root:
        raise ProofInvalid(
            f"two trees of size {old_size} have different roots {old_root.hex()} and "
            f"{new_root.hex()}",
            advice=_ADVICE,
        )


def _check_root(which: str, size: int, computed: bytes, claimed: bytes) -> None:
    if computed != claimed:
        raise ProofInvalid(
            f"the consistency proof leads to {which} root {computed.hex()}, not to the "
            f"{which} root {claimed.hex()} of the tree of size {size}",
            advice=_ADVICE,
        )
