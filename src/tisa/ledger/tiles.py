"""C2SP tlog-tiles (c2sp.org/tlog-tiles): tile paths, tile coordinates, tile and bundle bytes.

A tile at level ``L``, index ``N`` holds up to 256 consecutive hashes of RFC 6962
level ``8 * L`` (level 0: leaf hashes). Full tiles are 8,192 bytes; the partial
tile of level ``L`` for a tree of size ``s`` has ``floor(s / 256**L) mod 256``
hashes and is served as ``.p/<W>``. Paths (relative to the log prefix)::

    tile/<L>/<N>[.p/<W>]          N as 3-digit groups: 1234067 -> x001/x234/067
    tile/entries/<N>[.p/<W>]      entry bundles: big-endian uint16 length || entry

:class:`TiledNodeReader` turns stored tiles into a
:data:`~tisa.ledger.merkle.NodeReader`, so proofs come from tiles, not leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.merkle import HASH_SIZE, NodeReader, leaf_hash, range_hash, root_of

__all__ = [
    "MAX_ENTRY_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileReader",
    "TileRef",
    "TiledNodeReader",
    "build_tile",
    "encode_entry_bundle",
    "format_tile_index",
    "parse_entry_bundle",
    "parse_tile",
    "parse_tile_path",
    "tile_bytes",
    "tiles_for_size",
    "verify_entry_bundle",
    "verify_tiles",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_SIZE = 0xFFFF  # an entry bundle's uint16 length prefix

TileReader = Callable[[int, int, int], bytes]
"""``read(level, index, width)`` returns the bytes of that (full or partial) tile."""


def format_tile_index(n: int) -> str:
    """1234067 -> ``x001/x234/067``; 5 -> ``005``."""
    if n < 0:
        raise InvalidInput(f"tile index {n} is negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


@dataclass(frozen=True, kw_only=True)
class TileRef:
    """A tile (``level`` 0..63) or an entry bundle (``level`` None), full or partial."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= 63:
            raise InvalidInput(f"tile level {self.level} is not between 0 and 63")
        if self.index < 0:
            raise InvalidInput(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise InvalidInput(f"tile width {self.width} is not between 1 and {TILE_WIDTH}")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{level}/{format_tile_index(self.index)}{suffix}"


_GROUP = r"(?:x[0-9]{3}/)*[0-9]{3}"
_TILE_PATH = re.compile(
    rf"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>{_GROUP})(?:\.p/(?P<width>[1-9][0-9]{{0,2}}))?"
)


def parse_tile_path(path: str) -> TileRef:
    """Parse ``tile/...`` (without the log prefix); refuse anything not canonical."""
    m = _TILE_PATH.fullmatch(path)
    if m is None:
        raise InvalidInput(
            f"{path!r} is not a tile path: expected tile/<L>/<N>[.p/<W>] or "
            "tile/entries/<N>[.p/<W>] with N in 3-digit groups like x001/x234/067"
        )
    level = None if m["level"] == "entries" else int(m["level"])
    index = int(m["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH if m["width"] is None else int(m["width"])
    if m["width"] is not None and width >= TILE_WIDTH:
        raise InvalidInput(f"{path!r}: a partial tile is 1 to 255 wide")
    ref = TileRef(level=level, index=index, width=width)
    if ref.path != path:  # e.g. a leading x000 group
        raise InvalidInput(f"{path!r} is not in canonical form; the canonical path is {ref.path}")
    return ref


def tiles_for_size(size: int, *, entries: bool = False) -> list[TileRef]:
    """Every tile (or entry bundle) a tree of ``size`` leaves is served as."""
    if size < 0:
        raise InvalidInput(f"tree size {size} is negative")
    refs: list[TileRef] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        full, partial = divmod(count, TILE_WIDTH)
        name = None if entries else level
        refs.extend(TileRef(level=name, index=i) for i in range(full))
        if partial:
            refs.append(TileRef(level=name, index=full, width=partial))
        if entries:
            break
        level += 1
    return refs


def tile_bytes(hashes: Sequence[bytes]) -> bytes:
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise InvalidInput(f"a tile holds 1 to {TILE_WIDTH} hashes, got {len(hashes)}")
    if any(len(h) != HASH_SIZE for h in hashes):
        raise InvalidInput(f"every hash in a tile has {HASH_SIZE} bytes")
    return b"".join(hashes)


def build_tile(reader: NodeReader, ref: TileRef) -> bytes:
    """The bytes of a hash tile, read from complete subtrees (e.g. ``MerkleTree.node``)."""
    if ref.level is None:
        raise InvalidInput("an entry bundle is built from entries, not from hashes")
    level = TILE_HEIGHT * ref.level
    first = ref.index * TILE_WIDTH
    return b"".join(reader(level, first + i) for i in range(ref.width))


def parse_tile(data: bytes, width: int) -> list[bytes]:
    if len(data) != width * HASH_SIZE:
        raise InvalidInput(
            f"a tile of width {width} has {width * HASH_SIZE} bytes, not {len(data)}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise InvalidInput(f"an entry bundle holds 1 to {TILE_WIDTH} entries, got {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise InvalidInput(f"entry {i} has {len(entry)} bytes; the limit is {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise InvalidInput(f"entry bundle is truncated in a length prefix at byte {pos}")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            raise InvalidInput(f"entry bundle is truncated in entry {len(entries)}")
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise InvalidInput(f"an entry bundle holds 1 to {TILE_WIDTH} entries, got {len(entries)}")
    if width is not None and len(entries) != width:
        raise InvalidInput(f"entry bundle has {len(entries)} entries, expected {width}")
    return entries


class TiledNodeReader:
    """A :data:`~tisa.ledger.merkle.NodeReader` over stored tiles of a tree of ``size``.

    A node at RFC 6962 level ``8 * L + s`` is the root of ``2**s`` consecutive
    hashes in one tile of level ``L``; the last few tiles read are cached.
    """

    def __init__(self, read_tile: TileReader, size: int, *, cache_tiles: int = 64) -> None:
        self._read = read_tile
        self._size = size
        self._cache: dict[tuple[int, int, int], list[bytes]] = {}
        self._cache_tiles = cache_tiles

    def _tile(self, level: int, index: int) -> list[bytes]:
        count = self._size >> (TILE_HEIGHT * level)
        width = min(TILE_WIDTH, count - index * TILE_WIDTH)
        key = (level, index, width)
        hashes = self._cache.get(key)
        if hashes is None:
            hashes = parse_tile(self._read(level, index, width), width)
            if len(self._cache) >= self._cache_tiles:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = hashes
        return hashes

    def __call__(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise InvalidInput(f"subtree (level {level}, index {index}) is not complete")
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub  # position of the first covered hash at the tile level
        tile_index, offset = divmod(first, TILE_WIDTH)
        hashes = self._tile(tile_level, tile_index)
        return root_of(hashes[offset : offset + (1 << sub)])


def verify_tiles(read_tile: TileReader, size: int, root_hash: bytes) -> int:
    """Check every tile of a tree against ``root_hash`` (what a mirror does).

    Each hash at level ``L >= 1`` must be the root of its full tile below, and
    the tiles must give the checkpoint's root. Returns the number of tiles read;
    raises ``VerificationError`` at the first discrepancy.
    """
    refs = tiles_for_size(size)
    tiles: dict[tuple[int, int], list[bytes]] = {}
    for r in refs:
        level = r.level or 0  # hash tiles always have a level
        tiles[(level, r.index)] = parse_tile(read_tile(level, r.index, r.width), r.width)
    for (level, index), hashes in tiles.items():
        if level == 0:
            continue
        for i, h in enumerate(hashes):
            below = tiles.get((level - 1, index * TILE_WIDTH + i))
            if below is None or len(below) != TILE_WIDTH or root_of(below) != h:
                raise VerificationError(
                    f"tile {level}/{index} hash {i} is not the root of the tile below it"
                )
    if size:
        reader = TiledNodeReader(lambda lv, ix, w: tile_bytes(tiles[(lv, ix)]), size)
        computed = range_hash(reader, 0, size)
    else:
        computed = root_of([])
    if computed != root_hash:
        raise VerificationError(f"the tiles of size {size} do not give the checkpoint's root")
    return len(refs)


def verify_entry_bundle(bundle: bytes, tile: bytes, width: int) -> list[bytes]:
    """Check that each entry of a bundle hashes to its level-0 tile hash; return them."""
    entries = parse_entry_bundle(bundle, width)
    for i, (entry, h) in enumerate(zip(entries, parse_tile(tile, width), strict=True)):
        if leaf_hash(entry) != h:
            raise VerificationError(f"entry {i} of the bundle does not match its tile hash")
    return entries
