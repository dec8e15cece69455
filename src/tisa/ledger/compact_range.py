"""The right edge of a growing tree in O(log n) memory: what a durable log appends with.

A tree of size ``n`` is the concatenation of complete subtrees, one per set bit
of ``n``, largest first. :class:`CompactRange` keeps only those roots. Appending
a leaf merges equal-sized neighbours and returns every subtree it completed, so
a store can write those hashes (for example, into its level-8 and level-16
tiles) as it goes. After a restart, :meth:`CompactRange.resume` rebuilds the
edge from the stored nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tisa.errors import InvalidInput
from tisa.ledger.merkle import EMPTY_ROOT, HASH_SIZE, NodeReader, node_hash

__all__ = ["CompactRange", "CompletedNode"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CompletedNode:
    level: int
    index: int
    hash: bytes


class CompactRange:
    def __init__(self) -> None:
        self._size = 0
        self._roots: list[bytes] = []  # largest subtree first

    @classmethod
    def resume(cls, reader: NodeReader, size: int) -> CompactRange:
        """Rebuild the edge of a stored tree of ``size`` leaves from its nodes."""
        if size < 0:
            raise InvalidInput(f"tree size {size} is negative")
        edge = cls()
        pos = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                edge._roots.append(reader(level, pos >> level))
                pos += 1 << level
        edge._size = size
        return edge

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[CompletedNode]:
        """Add a leaf hash; return the subtrees it completed, the leaf itself first."""
        if len(leaf) != HASH_SIZE:
            raise InvalidInput(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf)}")
        index = self._size
        done = [CompletedNode(level=0, index=index, hash=leaf)]
        node, level = leaf, 0
        while index >> level & 1:
            node = node_hash(self._roots.pop(), node)
            level += 1
            done.append(CompletedNode(level=level, index=index >> level, hash=node))
        self._roots.append(node)
        self._size += 1
        return done

    def root(self) -> bytes:
        """The RFC 6962 root: fold the subtree roots from the right."""
        if not self._roots:
            return EMPTY_ROOT
        result = self._roots[-1]
        for part in reversed(self._roots[:-1]):
            result = node_hash(part, result)
        return result
