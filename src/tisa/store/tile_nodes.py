"""The inner nodes of a full hash tile, stored beside it so proofs need no rehashing.

A full tile at tile level ``L`` holds 256 hashes of tree level ``8L``; its inner
nodes are the 128 + 64 + … + 2 = 254 hashes of tree levels ``8L+1 … 8L+7`` above
them (the level ``8L+8`` root is a hash of the tile above). The log stores them
with each tile it writes (for a partial tile: the complete subtrees so far, a
prefix of what the full tile will have), so any complete subtree is one lookup, and ``tisa audit``
recomputes and compares them like every other stored hash.
"""

from __future__ import annotations

from collections.abc import Callable

from tisa.errors import InvalidInput
from tisa.ledger.merkle import HASH_SIZE, node_hash
from tisa.ledger.tiles import TILE_HEIGHT, TILE_WIDTH, parse_tile

__all__ = ["TileNodeReader", "inner_nodes", "split_levels"]


def inner_nodes(tile: bytes) -> bytes:
    """Levels 1..7 of the complete subtrees over a tile's hashes (full or partial),
    concatenated, lowest level first: level ``s`` holds ``width >> s`` hashes."""
    width = len(tile) // HASH_SIZE
    level = parse_tile(tile, width)
    out = bytearray()
    for _ in range(1, TILE_HEIGHT):
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        out += b"".join(level)
    return bytes(out)


def split_levels(tile: bytes, inner: bytes) -> list[bytes]:
    """``[level 0 (the tile), level 1, ..., level 7]`` as byte strings."""
    width = len(tile) // HASH_SIZE
    sizes = [(width >> s) * HASH_SIZE for s in range(1, TILE_HEIGHT)]
    if len(inner) != sum(sizes):
        raise InvalidInput(f"inner nodes of a tile of width {width} are {sum(sizes)} bytes, "
                           f"not {len(inner)}")
    levels = [tile]
    pos = 0
    for n in sizes:
        levels.append(inner[pos:pos + n])
        pos += n
    return levels


TileLevels = Callable[[int, int, int], list[bytes]]
"""``levels(tile_level, tile_index, width)``: the tile's levels 0..7, at least ``width`` wide."""


class TileNodeReader:
    """A ``NodeReader`` for a tree of ``size``: every complete subtree is one lookup."""

    def __init__(self, levels: TileLevels, size: int) -> None:
        self._levels = levels
        self._size = size

    def __call__(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise InvalidInput(f"subtree (level {level}, index {index}) is not complete")
        tile_level, sub = divmod(level, TILE_HEIGHT)
        tile_index, offset = divmod(index << sub, TILE_WIDTH)
        count = self._size >> (TILE_HEIGHT * tile_level)
        width = min(TILE_WIDTH, count - tile_index * TILE_WIDTH)
        row = self._levels(tile_level, tile_index, width)[sub]
        at = (offset >> sub) * HASH_SIZE
        return row[at:at + HASH_SIZE]
