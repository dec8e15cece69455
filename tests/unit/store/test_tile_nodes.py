"""Stored inner nodes of tiles give exactly the RFC 6962 subtree hashes (pure, no database)."""

from __future__ import annotations

import hashlib

import pytest

from tisa.ledger.merkle import MerkleTree, inclusion_proof
from tisa.store.tile_nodes import TileNodeReader, inner_nodes, split_levels


def tree_of(n: int) -> MerkleTree:
    return MerkleTree(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n))


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 300, 511, 512, 70_000])
def test_tile_reader_matches_the_tree(size: int) -> None:
    tree = tree_of(size)

    def levels(level: int, index: int, width: int) -> list[bytes]:
        start = index * 256
        hashes = b"".join(tree.node(8 * level, start + i) for i in range(width))
        return split_levels(hashes, inner_nodes(hashes))

    reader = TileNodeReader(levels, size)
    for index in {0, size // 2, size - 1}:
        assert inclusion_proof(reader, index, size) == tree.inclusion_proof(index, size)
    for level in range(size.bit_length()):
        last = (size >> level) - 1
        if last >= 0:
            assert reader(level, last) == tree.node(level, last)


def test_inner_nodes_of_a_partial_tile_are_a_prefix_of_the_full_ones() -> None:
    tree = tree_of(256)
    full = split_levels(b"".join(tree.leaf_hashes()), inner_nodes(b"".join(tree.leaf_hashes())))
    part = b"".join(tree.leaf_hashes(0, 200))
    for a, b in zip(split_levels(part, inner_nodes(part)), full, strict=True):
        assert b.startswith(a)
