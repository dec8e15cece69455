"""RFC 6962 hashing, trees and proofs against published vectors and a naive reference.

Published vectors: transparency-dev/merkle ``proof/verify_test.go`` (the same
leaves, roots and proofs as google/certificate-transparency's C++
``merkle_tree_test.cc``). Their leaf indices are 1-based; ours are 0-based.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    root_of,
)
from tisa.ledger.proofs import verify_consistency, verify_inclusion

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (0-based index, size, proof) from verify_test.go inclusionProofs.
INCLUSION_VECTORS = [
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]
# (size1, size2, proof) from verify_test.go consistencyProofs.
CONSISTENCY_VECTORS = [
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]


# ---- a naive recursive reference, written straight from RFC 6962 §2.1 ----


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


ENTRIES_64 = [b"entry %d" % i for i in range(64)]


@pytest.fixture(scope="module")
def tree64() -> MerkleTree:
    tree = MerkleTree()
    for e in ENTRIES_64:
        tree.append(e)
    return tree


def test_empty_and_single_hashes() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_of([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert leaf_hash(b"") == ROOTS[0]
    assert node_hash(leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])) == ROOTS[1]


def test_published_roots_for_sizes_1_to_8() -> None:
    tree = MerkleTree()
    for n, entry in enumerate(LEAVES, start=1):
        tree.append(entry)
        assert tree.root() == ROOTS[n - 1]
        assert root_of([leaf_hash(x) for x in LEAVES[:n]]) == ROOTS[n - 1]
        assert ref_mth(LEAVES[:n]) == ROOTS[n - 1]
    for n in range(1, 9):
        assert tree.root(n) == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    tree = MerkleTree(leaf_hash(x) for x in LEAVES)
    assert tree.inclusion_proof(index, size) == proof
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    tree = MerkleTree(leaf_hash(x) for x in LEAVES)
    assert tree.consistency_proof(old, new) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def test_inclusion_proofs_of_a_batch_are_each_leafs_proof(tree64: MerkleTree) -> None:
    for size in range(1, 65):
        indexes = [size - 1, *range(size // 2, size), 0]  # repeats and any order
        proofs = inclusion_proofs(tree64.node, indexes, size)
        assert proofs == [ref_path(i, ENTRIES_64[:size]) for i in indexes]


def test_inclusion_proofs_read_each_node_once(tree64: MerkleTree) -> None:
    reads: list[tuple[int, int]] = []

    def reader(level: int, index: int) -> bytes:
        reads.append((level, index))
        return tree64.node(level, index)

    proofs = inclusion_proofs(reader, range(40, 63), 63)
    assert proofs == [inclusion_proof(tree64.node, i, 63) for i in range(40, 63)]
    assert len(reads) == len(set(reads))


def test_inclusion_proofs_refuse_an_index_outside_the_tree(tree64: MerkleTree) -> None:
    with pytest.raises(InvalidInput, match="not in a tree of size 8"):
        inclusion_proofs(tree64.node, [3, 8], 8)


def test_every_inclusion_proof_for_sizes_1_to_64(tree64: MerkleTree) -> None:
    checked = 0
    for size in range(1, 65):
        root = tree64.root(size)
        assert root == ref_mth(ENTRIES_64[:size])
        for index in range(size):
            proof = tree64.inclusion_proof(index, size)
            assert proof == ref_path(index, ENTRIES_64[:size])
            verify_inclusion(index, size, leaf_hash(ENTRIES_64[index]), proof, root)
            checked += 1
    assert checked == 64 * 65 // 2


def test_every_consistency_pair_for_sizes_1_to_64(tree64: MerkleTree) -> None:
    roots = [tree64.root(n) for n in range(65)]
    for new in range(1, 65):
        for old in range(1, new + 1):
            proof = tree64.consistency_proof(old, new)
            assert proof == ref_proof(old, ENTRIES_64[:new])
            verify_consistency(old, new, roots[old], roots[new], proof)
            if old < new:
                # The proof for one pair never proves another pair.
                with pytest.raises(VerificationError):
                    verify_consistency(old, new, roots[old - 1], roots[new], proof)
                with pytest.raises(VerificationError):
                    verify_consistency(old, new, roots[old], roots[new - 1], proof)


def test_right_edge_leaves_verify(tree64: MerkleTree) -> None:
    # The last leaf of every non-power-of-two size needs the "shift until LSB set" step.
    for size in (3, 5, 6, 7, 11, 13, 21, 33, 63):
        index = size - 1
        proof = tree64.inclusion_proof(index, size)
        verify_inclusion(index, size, leaf_hash(ENTRIES_64[index]), proof, tree64.root(size))
        with pytest.raises(VerificationError):
            verify_inclusion(
                index - 1, size, leaf_hash(ENTRIES_64[index]), proof, tree64.root(size)
            )


def test_corrupted_inclusion_probes_fail(tree64: MerkleTree) -> None:
    index, size = 5, 13
    root, lh = tree64.root(size), leaf_hash(ENTRIES_64[index])
    proof = tree64.inclusion_proof(index, size)
    probes = [
        (index - 1, size, lh, proof, root),
        (index + 1, size, lh, proof, root),
        (index ^ 2, size, lh, proof, root),
        (index, size * 2, lh, proof, root),
        (index, size // 2, lh, proof, root),
        (index, size, leaf_hash(b"wrong"), proof, root),
        (index, size, lh, proof, EMPTY_ROOT),
        (index, size, lh, [*proof, root], root),
        (index, size, lh, [root, *proof], root),
        (index, size, lh, proof[:-1], root),
    ]
    for i, s, leaf, p, r in probes:
        with pytest.raises(VerificationError):
            verify_inclusion(i, s, leaf, p, r)


def test_consistency_edge_cases() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    verify_consistency(0, 0, a, a, [])
    verify_consistency(0, 5, a, b, [])  # anything extends the empty tree
    verify_consistency(3, 3, a, a, [])
    for old, new, r1, r2, proof in [
        (3, 3, a, b, []),
        (0, 0, a, b, []),
        (3, 3, a, a, [a]),
        (0, 3, a, b, [a]),
        (4, 3, a, b, [a]),
        (1, 2, a, b, []),
        (1, 2, a, b, [b"short"]),
    ]:
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r1, r2, proof)


def test_generation_rejects_impossible_requests(tree64: MerkleTree) -> None:
    with pytest.raises(InvalidInput):
        tree64.inclusion_proof(64, 64)
    with pytest.raises(InvalidInput):
        tree64.consistency_proof(5, 4)
    with pytest.raises(InvalidInput):
        tree64.root(65)
    with pytest.raises(InvalidInput):
        tree64.node(3, 8)  # leaves 64..71 do not exist
    with pytest.raises(InvalidInput):
        inclusion_proof(tree64.node, 0, 0)
    assert consistency_proof(tree64.node, 0, 10) == []


@given(
    size=st.integers(min_value=1, max_value=64),
    data=st.data(),
)
def test_any_flipped_byte_in_a_proof_hash_fails(size: int, data: st.DataObject) -> None:
    tree = MerkleTree(leaf_hash(e) for e in ENTRIES_64[:size])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = tree.inclusion_proof(index, size)
    if not proof:
        return
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    pos = data.draw(st.integers(min_value=0, max_value=31))
    bit = data.draw(st.integers(min_value=1, max_value=255))
    bad = bytearray(proof[which])
    bad[pos] ^= bit
    proof[which] = bytes(bad)
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, leaf_hash(ENTRIES_64[index]), proof, tree.root())


@given(old=st.integers(min_value=1, max_value=63), data=st.data())
def test_any_flipped_byte_in_a_consistency_proof_fails(old: int, data: st.DataObject) -> None:
    new = data.draw(st.integers(min_value=old + 1, max_value=64))
    tree = MerkleTree(leaf_hash(e) for e in ENTRIES_64[:new])
    proof = tree.consistency_proof(old, new)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    pos = data.draw(st.integers(min_value=0, max_value=31))
    bad = bytearray(proof[which])
    bad[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    proof[which] = bytes(bad)
    with pytest.raises(VerificationError):
        verify_consistency(old, new, tree.root(old), tree.root(new), proof)


@given(st.lists(st.binary(max_size=40), max_size=80))
def test_tree_agrees_with_reference(entries: list[bytes]) -> None:
    tree = MerkleTree()
    for e in entries:
        tree.append(e)
    assert tree.root() == ref_mth(entries) == root_of([leaf_hash(e) for e in entries])
