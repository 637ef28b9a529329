"""RFC 9162 §2.1 Merkle hashing and proofs against published vectors, round trips and attacks.

Every expected hash below is copied from the transparency-dev/merkle file named beside it;
none is our own output. Proof shapes (which subtrees a proof is made of) come from the same
repository and are turned into hashes with the published node hashes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from accord.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_from_leaves,
    range_hash,
    root_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from accord.errors import ProofInvalid

h = bytes.fromhex

# Vectors -------------------------------------------------------------------------------------

# transparency-dev/merkle rfc6962/rfc6962_test.go (TestRFC6962Hasher)
HASHER_VECTORS = [
    ("empty root", EMPTY_ROOT, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (
        "empty leaf",
        leaf_hash(b""),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    ),
    (
        "leaf",
        leaf_hash(b"L123456"),
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
    ),
    (
        "node",
        node_hash(b"N123", b"N456"),
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb",
    ),
]

# transparency-dev/merkle testonly/constants.go (LeafInputs, NodeHashes, RootHashes)
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
ROOT_HASHES = [  # indexed by tree size, 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# transparency-dev/merkle proof/verify_test.go (inclusionProofs, consistencyProofs); the
# source numbers leaves from 1, here they are 0-based leaf indexes: (index, size, proof).
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# transparency-dev/merkle proof/proof_test.go (TestInclusion, TestConsistency): the node IDs
# (level, index) a proof is built from. A nested list is one node the source rehashes from
# several (its Nodes.begin:end), folded as its Rehash does: h = hash(next, h).
Shape = list[tuple[int, int] | list[tuple[int, int]]]
INCLUSION_SHAPES: list[tuple[int, int, Shape]] = [  # (size, index, nodes)
    (1, 0, []),
    (2, 0, [(0, 1)]),
    (2, 1, [(0, 0)]),
    (3, 1, [(0, 0), (0, 2)]),
    (7, 0, [(0, 1), (1, 1), [(0, 6), (1, 2)]]),
    (7, 1, [(0, 0), (1, 1), [(0, 6), (1, 2)]]),
    (7, 2, [(0, 3), (1, 0), [(0, 6), (1, 2)]]),
    (7, 3, [(0, 2), (1, 0), [(0, 6), (1, 2)]]),
    (7, 4, [(0, 5), (0, 6), (2, 0)]),
    (7, 5, [(0, 4), (0, 6), (2, 0)]),
    (7, 6, [(1, 2), (2, 0)]),
    (4, 2, [(0, 3), (1, 0)]),
    (5, 3, [(0, 2), (1, 0), (0, 4)]),
    (6, 3, [(0, 2), (1, 0), (1, 2)]),
    (6, 4, [(0, 5), (2, 0)]),
    (15, 10, [(0, 11), (1, 4), [(0, 14), (1, 6)], (3, 0)]),
    (31, 24, [(0, 25), (1, 13), [(0, 30), (1, 14)], (3, 2), (4, 0)]),
    (95, 81, [(0, 80), (1, 41), (2, 21), [(0, 94), (1, 46), (2, 22)], (4, 4), (6, 0)]),
]
CONSISTENCY_SHAPES: list[tuple[int, int, Shape]] = [  # (size1, size2, nodes)
    (1, 2, [(0, 1)]),
    (1, 4, [(0, 1), (1, 1)]),
    (1, 6, [(0, 1), (1, 1), (1, 2)]),
    (2, 3, [(0, 2)]),
    (2, 8, [(1, 1), (2, 1)]),
    (3, 7, [(0, 2), (0, 3), (1, 0), [(0, 6), (1, 2)]]),
    (4, 7, [[(0, 6), (1, 2)]]),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]),
    (6, 7, [(1, 2), (0, 6), (2, 0)]),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
    *((size, size, []) for size in (1, 2, 3, 4, 5, 7, 8)),
    (2, 4, [(1, 1)]),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)]),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)]),
    (4, 6, [(1, 2)]),
    (1, 7, [(0, 1), (1, 1), [(0, 6), (1, 2)]]),
    (10, 15, [(1, 4), (1, 5), [(0, 14), (1, 6)], (3, 0)]),
    (24, 31, [(3, 2), [(0, 30), (1, 14), (2, 6)], (4, 0)]),
    (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), [(0, 94), (1, 46), (2, 22)], (4, 4), (6, 0)]),
]

# Helpers -------------------------------------------------------------------------------------

Perfect = Callable[[int, int], bytes]
GOLDEN_LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]
TREE_SIZE = 2048
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(TREE_SIZE)]
PERFECT = perfect_from_leaves(LEAVES)
MILLION = 1_000_000


def published(level: int, index: int) -> bytes:
    """``perfect`` over the published node hashes of the 8-leaf golden tree."""
    return NODE_HASHES[level][index]


@cache
def root(size: int) -> bytes:
    return root_of(LEAVES[:size])


def hexes(values: Sequence[str]) -> list[bytes]:
    return [h(value) for value in values]


def from_shape(shape: Shape, perfect: Perfect) -> list[bytes]:
    proof = []
    for item in shape:
        if isinstance(item, tuple):
            proof.append(perfect(*item))
            continue
        digest = perfect(*item[0])
        for node in item[1:]:
            digest = node_hash(perfect(*node), digest)
        proof.append(digest)
    return proof


def nodes_of(shape: Shape) -> set[tuple[int, int]]:
    return {node for item in shape for node in ([item] if isinstance(item, tuple) else item)}


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def accepts(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(index, size, leaf, proof, root)
    except ProofInvalid:
        return False
    return True


def extends(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    try:
        verify_consistency(old, new, old_root, new_root, proof)
    except ProofInvalid:
        return False
    return True


def rejects(fragment: str) -> pytest.RaisesExc[ProofInvalid]:
    return pytest.raises(ProofInvalid, match=re.escape(fragment))


class Counting:
    """A ``perfect`` that counts and records its calls."""

    def __init__(self, perfect: Perfect) -> None:
        self.perfect = perfect
        self.calls: list[tuple[int, int]] = []

    def __call__(self, level: int, index: int) -> bytes:
        self.calls.append((level, index))
        return self.perfect(level, index)


def synthetic(level: int, index: int) -> bytes:
    """Distinct stand-in hashes for counting calls on trees too big to build."""
    return hashlib.sha256(f"{level}:{index}".encode()).digest()


ZEROS = [leaf_hash(b"")]
for _ in range(64):
    ZEROS.append(node_hash(ZEROS[-1], ZEROS[-1]))


def uniform(level: int, index: int) -> bytes:
    """A consistent tree of any size whose leaves are all ``leaf_hash(b"")``."""
    return ZEROS[level]


@st.composite
def leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, TREE_SIZE))
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn, least: int = 0) -> tuple[int, int]:
    new = draw(st.integers(max(least, 1), TREE_SIZE))
    return draw(st.integers(least, new)), new


HASH_BITS = st.integers(0, HASH_SIZE * 8 - 1)


@st.composite
def truncated_or_extended(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """The proof with one hash removed, or with one random hash inserted anywhere."""
    truncate = draw(st.booleans(), label="truncate")
    if proof and truncate:
        position = draw(st.integers(0, len(proof) - 1), label="removed")
        return proof[:position] + proof[position + 1 :]
    position = draw(st.integers(0, len(proof)), label="inserted at")
    return [
        *proof[:position],
        draw(st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE)),
        *proof[position:],
    ]


# Known answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "got", "want"), HASHER_VECTORS, ids=[v[0] for v in HASHER_VECTORS]
)
def test_hashing_matches_rfc6962_vectors(name: str, got: bytes, want: str) -> None:
    assert got.hex() == want


def test_leaf_and_node_hashes_match_published_golden_tree() -> None:
    assert [leaf_hash(data) for data in LEAF_INPUTS] == NODE_HASHES[0]
    perfect = perfect_from_leaves(GOLDEN_LEAVES)
    for level, row in enumerate(NODE_HASHES):
        assert [perfect(level, index) for index in range(len(row))] == row


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published_roots_for_every_size(size: int) -> None:
    assert root_of(GOLDEN_LEAVES[:size]) == ROOT_HASHES[size]
    assert root_hash(size, published) == ROOT_HASHES[size]
    assert root_hash(size, perfect_from_leaves(GOLDEN_LEAVES[:size])) == ROOT_HASHES[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_published_vectors(index: int, size: int, proof: list[str]) -> None:
    assert inclusion_proof(index, size, published) == hexes(proof)
    verify_inclusion(index, size, GOLDEN_LEAVES[index], hexes(proof), ROOT_HASHES[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_published_vectors(old: int, new: int, proof: list[str]) -> None:
    assert consistency_proof(old, new, published) == hexes(proof)
    verify_consistency(old, new, ROOT_HASHES[old], ROOT_HASHES[new], hexes(proof))


@pytest.mark.parametrize(("size", "index", "shape"), INCLUSION_SHAPES)
def test_inclusion_proofs_read_the_nodes_transparency_dev_reads(
    size: int, index: int, shape: Shape
) -> None:
    perfect = Counting(published if size <= 8 else PERFECT)
    assert inclusion_proof(index, size, perfect) == from_shape(shape, perfect.perfect)
    assert set(perfect.calls) == nodes_of(shape)


@pytest.mark.parametrize(("old", "new", "shape"), CONSISTENCY_SHAPES)
def test_consistency_proofs_read_the_nodes_transparency_dev_reads(
    old: int, new: int, shape: Shape
) -> None:
    perfect = Counting(published if new <= 8 else PERFECT)
    assert consistency_proof(old, new, perfect) == from_shape(shape, perfect.perfect)
    assert set(perfect.calls) == nodes_of(shape)


def inclusion_probes(
    index: int, size: int, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """The corruptions of transparency-dev/merkle proof/verify_test.go corruptInclusionProof."""
    leaf, good = GOLDEN_LEAVES[index], ROOT_HASHES[size]
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        ("leafIndex - 1", index - 1, size, leaf, proof, good),
        ("leafIndex + 1", index + 1, size, leaf, proof, good),
        ("leafIndex ^ 2", index ^ 2, size, leaf, proof, good),
        ("treeSize * 2", index, size * 2, leaf, proof, good),
        ("treeSize / 2", index, size // 2, leaf, proof, good),
        ("wrong leaf", index, size, b"WrongLeaf", proof, good),
        ("empty root", index, size, leaf, proof, EMPTY_ROOT),
        ("random root", index, size, leaf, proof, some),
        ("trailing garbage", index, size, leaf, [*proof, b""], good),
        ("trailing root", index, size, leaf, [*proof, good], good),
        ("preceding garbage", index, size, leaf, [b"", *proof], good),
        ("preceding root", index, size, leaf, [good, *proof], good),
    ]
    for i in range(len(proof)):
        changed = [*proof[:i], flip(proof[i], 3), *proof[i + 1 :]]
        probes.append((f"modified proof[{i}] bit 3", index, size, leaf, changed, good))
    if proof:
        probes.append(("removed component", index, size, leaf, proof[:-1], good))
    if len(proof) > 1:
        probes.append(("inserted component", index, size, leaf, [proof[0], some, *proof[1:]], good))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_published_inclusion_corruptions_are_rejected(
    index: int, size: int, proof: list[str]
) -> None:
    probes = inclusion_probes(index, size, hexes(proof))
    accepted = [
        desc for desc, i, n, leaf, hashes, good in probes if accepts(i, n, leaf, hashes, good)
    ]
    assert accepted == []


def consistency_probes(
    old: int, new: int, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """The corruptions of transparency-dev/merkle proof/verify_test.go corruptConsistencyProof."""
    one, two = ROOT_HASHES[old], ROOT_HASHES[new]
    probes = [
        ("size1 - 1", old - 1, new, one, two, proof),
        ("size1 + 1", old + 1, new, one, two, proof),
        ("size1 ^ 2", old ^ 2, new, one, two, proof),
        ("size2 * 2", old, new * 2, one, two, proof),
        ("size2 / 2", old, new // 2, one, two, proof),
        ("wrong root1", old, new, b"WrongRoot", two, proof),
        ("wrong root2", old, new, one, b"WrongRoot", proof),
        ("swapped roots", old, new, two, one, proof),
        ("empty proof", old, new, one, two, []),
        ("trailing garbage", old, new, one, two, [*proof, b""]),
        ("trailing root1", old, new, one, two, [*proof, one]),
        ("trailing root2", old, new, one, two, [*proof, two]),
        ("preceding garbage", old, new, one, two, [b"", *proof]),
        ("preceding root1", old, new, one, two, [one, *proof]),
        ("preceding root2", old, new, one, two, [two, *proof]),
        ("preceding proof[0]", old, new, one, two, [proof[0], *proof]),
        ("truncated proof", old, new, one, two, proof[:-1]),
    ]
    for i in range(len(proof)):
        changed = [*proof[:i], flip(proof[i], 4), *proof[i + 1 :]]
        probes.append((f"modified proof[{i}] bit 4", old, new, one, two, changed))
    return probes


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_published_consistency_corruptions_are_rejected(
    old: int, new: int, proof: list[str]
) -> None:
    probes = consistency_probes(old, new, hexes(proof))
    accepted = [desc for desc, m, n, one, two, hashes in probes if extends(m, n, one, two, hashes)]
    assert accepted == []


# Round trips ---------------------------------------------------------------------------------


@given(st.integers(0, TREE_SIZE))
def test_root_hash_equals_in_memory_root(size: int) -> None:
    assert root_hash(size, PERFECT) == root_of(LEAVES[:size])


@given(leaf_in_tree())
def test_every_inclusion_proof_verifies(case: tuple[int, int]) -> None:
    index, size = case
    proof = inclusion_proof(index, size, PERFECT)
    assert len(proof) <= math.ceil(math.log2(size))
    verify_inclusion(index, size, LEAVES[index], proof, root(size))


@given(two_sizes())
def test_every_consistency_proof_verifies(sizes: tuple[int, int]) -> None:
    old, new = sizes
    proof = consistency_proof(old, new, PERFECT)
    verify_consistency(old, new, root(old), root(new), proof)


@given(st.integers(1, TREE_SIZE), st.data())
def test_range_hash_is_the_root_of_the_range(size: int, data: st.DataObject) -> None:
    step = 1 << (size.bit_length() - 1)  # start: a multiple of the largest power of 2 <= size
    start = step * data.draw(st.integers(0, (TREE_SIZE - size) // step))
    assert range_hash(start, start + size, PERFECT) == root_of(LEAVES[start : start + size])


@pytest.mark.parametrize(("start", "end"), [(1, 3), (3, 7), (2, 6), (4, 4), (5, 4), (-2, 0)])
def test_range_hash_refuses_ranges_it_cannot_fold(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="not an aligned subtree range"):
        range_hash(start, end, PERFECT)


# Attacks -------------------------------------------------------------------------------------


@given(leaf_in_tree(), st.data())
def test_flipped_bit_in_leaf_root_or_inclusion_proof_is_rejected(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    proof = inclusion_proof(index, size, PERFECT)
    leaf, expected = LEAVES[index], root(size)
    target = data.draw(st.integers(-2, len(proof) - 1), label="-2 leaf, -1 root, else proof[i]")
    bit = data.draw(HASH_BITS, label="bit")
    if target == -2:
        leaf = flip(leaf, bit)
    elif target == -1:
        expected = flip(expected, bit)
    else:
        proof[target] = flip(proof[target], bit)
    with rejects("leads to root"):
        verify_inclusion(index, size, leaf, proof, expected)


@given(leaf_in_tree(), st.integers(0, TREE_SIZE - 1))
def test_inclusion_proof_checked_at_another_index_is_rejected(
    case: tuple[int, int], other: int
) -> None:
    index, size = case
    assume(other != index)
    with pytest.raises(ProofInvalid):
        verify_inclusion(
            other, size, LEAVES[index], inclusion_proof(index, size, PERFECT), root(size)
        )


@given(leaf_in_tree(), st.integers(0, TREE_SIZE - 1))
def test_inclusion_proof_of_another_leaf_is_rejected(case: tuple[int, int], other: int) -> None:
    index, size = case
    other %= size
    assume(other != index)
    with pytest.raises(ProofInvalid):
        verify_inclusion(
            index, size, LEAVES[index], inclusion_proof(other, size, PERFECT), root(size)
        )


@given(leaf_in_tree(), st.integers(1, 2 * TREE_SIZE))
def test_inclusion_proof_checked_at_a_size_of_another_shape_is_rejected(
    case: tuple[int, int], other: int
) -> None:
    index, size = case
    proof = inclusion_proof(index, size, PERFECT)
    assume(index >= other or len(inclusion_proof(index, other, uniform)) != len(proof))
    with pytest.raises(ProofInvalid):
        verify_inclusion(index, other, LEAVES[index], proof, root(size))


def test_size_is_bound_by_the_signed_root_not_by_the_proof() -> None:
    """Leaf 0 has the same path shape in trees of 3 and 4 leaves, so a proof for size 3 also
    holds at "size 4" against the root of size 3. RFC 9162 verifiers all behave so: size and
    root must come together from one signed checkpoint."""
    proof = inclusion_proof(0, 3, PERFECT)
    verify_inclusion(0, 4, LEAVES[0], proof, root(3))
    with rejects("leads to root"):
        verify_inclusion(0, 4, LEAVES[0], proof, root(4))


@given(leaf_in_tree(), st.data())
def test_truncated_or_extended_inclusion_proof_is_rejected(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    proof = inclusion_proof(index, size, PERFECT)
    changed = data.draw(truncated_or_extended(proof), label="changed proof")
    with rejects(f"has {len(proof)} hashes, this one has {len(changed)}"):
        verify_inclusion(index, size, LEAVES[index], changed, root(size))


@given(two_sizes(least=1), st.data())
def test_flipped_bit_in_roots_or_consistency_proof_is_rejected(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    proof = consistency_proof(old, new, PERFECT)
    one, two = root(old), root(new)
    target = data.draw(st.integers(-2, len(proof) - 1), label="-2 old, -1 new, else proof[i]")
    bit = data.draw(HASH_BITS, label="bit")
    if target == -2:
        one = flip(one, bit)
    elif target == -1:
        two = flip(two, bit)
    else:
        proof[target] = flip(proof[target], bit)
    with pytest.raises(ProofInvalid):
        verify_consistency(old, new, one, two, proof)


@given(two_sizes(least=1), st.data())
def test_truncated_or_extended_consistency_proof_is_rejected(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    proof = consistency_proof(old, new, PERFECT)
    changed = data.draw(truncated_or_extended(proof), label="changed proof")
    with pytest.raises(ProofInvalid):
        verify_consistency(old, new, root(old), root(new), changed)


@given(two_sizes(least=1), two_sizes())
def test_consistency_proof_for_other_sizes_is_rejected(
    sizes: tuple[int, int], others: tuple[int, int]
) -> None:
    old, new = sizes
    forged = consistency_proof(*others, PERFECT)
    assume(forged != consistency_proof(old, new, PERFECT))
    with pytest.raises(ProofInvalid):
        verify_consistency(old, new, root(old), root(new), forged)


@given(two_sizes(least=1), st.data())
def test_consistency_proof_against_a_forked_old_tree_is_rejected(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    """The old checkpoint commits to a history where one entry differs: a split view."""
    old, new = sizes
    assume(old < new)
    changed = data.draw(st.integers(0, old - 1), label="rewritten entry")
    forked = [*LEAVES[:changed], leaf_hash(b"rewritten"), *LEAVES[changed + 1 : old]]
    with pytest.raises(ProofInvalid):
        verify_consistency(
            old, new, root_of(forked), root(new), consistency_proof(old, new, PERFECT)
        )


# Edge cases ----------------------------------------------------------------------------------


def test_tree_of_one_leaf() -> None:
    assert root_hash(1, PERFECT) == LEAVES[0]
    assert inclusion_proof(0, 1, PERFECT) == []
    verify_inclusion(0, 1, LEAVES[0], [], LEAVES[0])
    with rejects("leads to root"):
        verify_inclusion(0, 1, LEAVES[1], [], LEAVES[0])
    with rejects("has 0 hashes, this one has 1"):
        verify_inclusion(0, 1, LEAVES[0], [LEAVES[1]], LEAVES[0])
    with rejects("leaf index 1 is not in a tree of size 1"):
        verify_inclusion(1, 1, LEAVES[0], [], LEAVES[0])


def test_empty_tree() -> None:
    assert root_hash(0, PERFECT) == root_of([]) == EMPTY_ROOT
    with pytest.raises(ValueError, match="not in a tree of size 0"):
        inclusion_proof(0, 0, PERFECT)
    with rejects("leaf index 0 is not in a tree of size 0"):
        verify_inclusion(0, 0, LEAVES[0], [], EMPTY_ROOT)
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


@pytest.mark.parametrize("size", [1, 2, 5, 8, TREE_SIZE])
def test_consistency_between_equal_sizes(size: int) -> None:
    assert consistency_proof(size, size, PERFECT) == []
    verify_consistency(size, size, root(size), root(size), [])
    with rejects(f"two trees of size {size} have different roots"):
        verify_consistency(size, size, root(size), root(size - 1), [])
    with rejects(f"from size {size} to size {size} is empty, this one has 1 hashes"):
        verify_consistency(size, size, root(size), root(size), [root(size)])


@pytest.mark.parametrize("new", [1, 2, 7, TREE_SIZE])
def test_consistency_from_the_empty_tree_needs_no_proof_but_the_empty_root(new: int) -> None:
    """Any tree extends the empty one (transparency-dev accepts an empty proof); its root
    is MTH({}) = SHA-256(""), so an old root claiming otherwise is refused (stricter)."""
    assert consistency_proof(0, new, PERFECT) == []
    verify_consistency(0, new, EMPTY_ROOT, root(new), [])
    with rejects("from size 0 to size"):
        verify_consistency(0, new, EMPTY_ROOT, root(new), [root(new)])
    with rejects(f"the tree of size 0 has root {EMPTY_ROOT.hex()}, not {root(new).hex()}"):
        verify_consistency(0, new, root(new), root(new), [])


def test_empty_consistency_proof_between_different_sizes_is_rejected() -> None:
    with rejects("the consistency proof from size 3 to size 7 is empty"):  # RFC 9162 §2.1.4.2 1.
        verify_consistency(3, 7, root(3), root(7), [])


@pytest.mark.parametrize(
    "size", [1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65, 256, 257, 1024, 1025, TREE_SIZE - 1, TREE_SIZE]
)
def test_powers_of_two_and_one_past(size: int) -> None:
    for index in {0, 1, size // 2, size - 2, size - 1} & set(range(size)):
        verify_inclusion(
            index, size, LEAVES[index], inclusion_proof(index, size, PERFECT), root(size)
        )
    for old in {0, 1, size // 2, size - 1, size}:
        verify_consistency(old, size, root(old), root(size), consistency_proof(old, size, PERFECT))
        if old and old < size:
            verify_consistency(
                size - old,
                size,
                root(size - old),
                root(size),
                consistency_proof(size - old, size, PERFECT),
            )


@pytest.mark.parametrize("size", range(1, 70))
def test_last_leaf_of_every_small_tree(size: int) -> None:
    proof = inclusion_proof(size - 1, size, PERFECT)
    verify_inclusion(size - 1, size, LEAVES[size - 1], proof, root(size))
    with rejects("leads to root"):
        verify_inclusion(size - 1, size, LEAVES[size - 2], proof, root(size))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof(-1, 5, PERFECT), "leaf index -1 is not in a tree of size 5"),
        (lambda: inclusion_proof(5, 5, PERFECT), "leaf index 5 is not in a tree of size 5"),
        (lambda: consistency_proof(6, 5, PERFECT), "no consistency proof from size 6 to size 5"),
        (lambda: consistency_proof(-1, 5, PERFECT), "no consistency proof from size -1 to size 5"),
        (lambda: root_hash(-1, PERFECT), "tree size -1 is negative"),
        (lambda: PERFECT(11, 1), "no complete subtree at level 11, index 1"),
        (lambda: root_hash(TREE_SIZE + 1, PERFECT), "no complete subtree at level 0, index 2048"),
    ],
)
def test_asking_for_what_does_not_exist_is_a_programming_error(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: verify_inclusion(0, 2, LEAVES[0][:31], [LEAVES[1]], root(2)), "leaf hash has 31"),
        (
            lambda: verify_inclusion(0, 2, LEAVES[0], [LEAVES[1]], root(2) + b"\0"),
            "root hash has 33",
        ),
        (lambda: verify_inclusion(0, 2, LEAVES[0], [b""], root(2)), "proof hash 0 has 0 bytes"),
        (lambda: verify_inclusion(-1, 2, LEAVES[0], [LEAVES[1]], root(2)), "leaf index -1 is not"),
        (lambda: verify_consistency(1, 2, b"x", root(2), [LEAVES[1]]), "old root hash has 1 bytes"),
        (lambda: verify_consistency(1, 2, root(1), b"", [LEAVES[1]]), "new root hash has 0 bytes"),
        (lambda: verify_consistency(1, 2, root(1), root(2), [b"\0" * 64]), "proof hash 0 has 64"),
        (lambda: verify_consistency(3, 2, root(3), root(2), []), "old size 3 is not between 0"),
        (lambda: verify_consistency(-1, 2, root(1), root(2), []), "old size -1 is not between 0"),
        (
            lambda: verify_consistency(
                6, 8, root(6), root(8), consistency_proof(6, 8, PERFECT)[:2]
            ),
            "from size 6 to size 8 has 3 hashes, this one has 2",
        ),
        (
            lambda: verify_consistency(6, 8, root(5), root(8), consistency_proof(6, 8, PERFECT)),
            "leads to old root",
        ),
        (
            lambda: verify_consistency(6, 8, root(6), root(7), consistency_proof(6, 8, PERFECT)),
            "leads to new root",
        ),
    ],
)
def test_rejections_say_what_is_wrong(call: Callable[[], None], message: str) -> None:
    with rejects(message):
        call()


# Cost ----------------------------------------------------------------------------------------

LOG_MILLION = math.ceil(math.log2(MILLION))  # 20


@given(st.integers(0, MILLION - 1) | st.sampled_from([0, 1, 2**19 - 1, 2**19, MILLION - 1]))
def test_inclusion_proof_at_a_million_leaves_reads_o_log_n_subtrees(index: int) -> None:
    perfect = Counting(synthetic)
    proof = inclusion_proof(index, MILLION, perfect)
    assert len(proof) <= LOG_MILLION
    assert len(perfect.calls) <= 2 * LOG_MILLION + 1


@given(st.integers(0, MILLION))
def test_consistency_proof_at_a_million_leaves_reads_o_log_n_subtrees(old: int) -> None:
    perfect = Counting(synthetic)
    consistency_proof(old, MILLION, perfect)
    assert len(perfect.calls) <= 2 * LOG_MILLION + 2


def test_root_hash_reads_one_subtree_per_set_bit_of_the_size() -> None:
    perfect = Counting(synthetic)
    root_hash(MILLION, perfect)
    assert len(perfect.calls) == MILLION.bit_count()


@given(st.integers(1, 2**62), st.data())
def test_proofs_work_on_trees_far_beyond_memory(size: int, data: st.DataObject) -> None:
    """No recursion and nothing linear in the size: 2**62 leaves take 62 steps."""
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old size")
    new_root = root_hash(size, uniform)
    verify_inclusion(index, size, ZEROS[0], inclusion_proof(index, size, uniform), new_root)
    proof = consistency_proof(old, size, uniform)
    verify_consistency(old, size, root_hash(old, uniform), new_root, proof)
