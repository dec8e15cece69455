from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tisa.ledger.compact_range import CompactRange
from tisa.ledger.merkle import EMPTY_ROOT, MerkleTree, leaf_hash


def test_matches_the_full_tree_and_reports_completed_nodes() -> None:
    tree, edge = MerkleTree(), CompactRange()
    assert edge.root() == EMPTY_ROOT
    for i in range(300):
        h = leaf_hash(b"%d" % i)
        tree.append_hash(h)
        done = edge.append(h)
        assert edge.root() == tree.root()
        assert edge.size == tree.size
        # Every completed node is exactly the full tree's node there.
        assert all(tree.node(c.level, c.index) == c.hash for c in done)
        assert len(done) == 1 + ((i + 1) & -(i + 1)).bit_length() - 1


@given(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=50))
def test_resume_from_stored_nodes(size: int, more: int) -> None:
    tree = MerkleTree(leaf_hash(b"%d" % i) for i in range(size + more))
    edge = CompactRange.resume(tree.node, size)
    assert edge.root() == tree.root(size)
    for i in range(size, size + more):
        edge.append(tree.node(0, i))
    assert edge.root() == tree.root()
