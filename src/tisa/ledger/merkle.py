"""RFC 6962 / RFC 9162 Merkle tree hashing, an append-only in-memory tree, and proofs.

Hashing (RFC 6962 §2.1)::

    leaf  = SHA-256(0x00 || entry)
    node  = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256("")                 the empty tree
    MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n

A *complete subtree* is addressed as ``(level, index)``: it covers the leaves
``[index * 2**level, (index + 1) * 2**level)``. Proof generation only ever asks a
:data:`NodeReader` for complete subtrees, so a store that keeps tile-style
interior hashes (see :mod:`tisa.ledger.tiles`) can back it without reading
leaves; incomplete right-edge subtrees are folded from at most 64 complete ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from tisa.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_of",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""``reader(level, index)`` returns the hash of that complete subtree."""

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes, level by level (O(n) hashes, no recursion).

    Promoting the odd last node of a level unchanged gives exactly the RFC 6962
    split at the largest power of two.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def range_hash(reader: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a subtree whose ``start`` is aligned to a power of two
    at least ``end - start`` (every subtree an RFC 6962 proof names is).

    The range splits into complete subtrees of strictly decreasing size; folding
    them from the right rebuilds the RFC 6962 right edge.
    """
    if end <= start:
        raise InvalidInput(f"empty subtree range [{start}, {end})")
    parts: list[bytes] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        parts.append(reader(level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1, leaf sibling first."""
    return _inclusion_path(reader, lambda start, end: range_hash(reader, start, end),
                           index, size)


def inclusion_proofs(reader: NodeReader, indexes: Iterable[int], size: int
                     ) -> list[list[bytes]]:
    """``inclusion_proof`` of each index in one tree: the proofs of nearby leaves share
    most of their siblings (the right edge above all), so each node and each range hash
    is read or computed once for the lot."""
    nodes: dict[tuple[int, int], bytes] = {}
    ranges: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        found = nodes.get((level, index))
        if found is None:
            found = nodes[(level, index)] = reader(level, index)
        return found

    def ranged(start: int, end: int) -> bytes:
        found = ranges.get((start, end))
        if found is None:
            found = ranges[(start, end)] = range_hash(node, start, end)
        return found

    return [_inclusion_path(node, ranged, index, size) for index in indexes]


def _inclusion_path(reader: NodeReader, ranged: Callable[[int, int], bytes], index: int,
                    size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, collecting siblings; reversed at the end.
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        mid = start + k
        if index < mid:
            path.append(ranged(mid, end))
            end = mid
        else:
            path.append(reader(k.bit_length() - 1, start >> (k.bit_length() - 1)))
            start = mid
    path.reverse()
    return path


def consistency_proof(reader: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2; empty when old is 0 or equal."""
    if not 0 <= old_size <= new_size:
        raise InvalidInput(
            f"no consistency proof from size {old_size} to size {new_size}: "
            "the old size must be between 0 and the new size"
        )
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(range_hash(reader, start, end))
            break
        k = _largest_power_of_two_below(n)
        mid = start + k
        if m <= k:
            proof.append(range_hash(reader, mid, end))
            end = mid
        else:
            proof.append(reader(k.bit_length() - 1, start >> (k.bit_length() - 1)))
            start, m, complete = mid, m - k, False
    proof.reverse()
    return proof


class MerkleTree:
    """An append-only RFC 6962 tree in memory, with every complete subtree kept.

    Each level is one ``bytearray`` of 32-byte hashes, so a node lookup is a
    slice and appending costs one leaf plus on average one interior hash. A
    1,000,000-leaf tree holds about 64 MB of hashes.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaf_hashes:
            self.append_hash(h)

    @property
    def size(self) -> int:
        return self._size

    def append(self, entry: bytes) -> int:
        """Append an entry (hashed as a leaf); return its index."""
        return self.append_hash(_sha256(b"\x00" + entry).digest())

    def append_hash(self, leaf: bytes) -> int:
        """Append an already computed leaf hash; return its index."""
        if len(leaf) != HASH_SIZE:
            raise InvalidInput(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf)}")
        index = self._size
        levels = self._levels
        levels[0] += leaf
        node = leaf
        i, level = index, 0
        while i & 1:
            row = levels[level]
            left = bytes(row[-2 * HASH_SIZE : -HASH_SIZE])
            node = _sha256(b"\x01" + left + node).digest()
            level += 1
            i >>= 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += node
        self._size = index + 1
        return index

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``; a :data:`NodeReader`."""
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise InvalidInput(
                f"subtree (level {level}, index {index}) is not complete "
                f"in a tree of size {self._size}"
            )
        offset = index * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def leaf_hashes(self, start: int = 0, end: int | None = None) -> list[bytes]:
        stop = self._size if end is None else end
        row = self._levels[0]
        return [bytes(row[i * HASH_SIZE : (i + 1) * HASH_SIZE]) for i in range(start, stop)]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all), from O(log n) stored nodes."""
        n = self._size if size is None else size
        if not 0 <= n <= self._size:
            raise InvalidInput(f"no tree of size {n}: the log has {self._size} entries")
        if n == 0:
            return EMPTY_ROOT
        return range_hash(self.node, 0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self._size if size is None else size
        self._check_size(n)
        return inclusion_proof(self.node, index, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = self._size if new_size is None else new_size
        self._check_size(n)
        return consistency_proof(self.node, old_size, n)

    def _check_size(self, n: int) -> None:
        if not 0 <= n <= self._size:
            raise InvalidInput(f"no tree of size {n}: the log has {self._size} entries")
