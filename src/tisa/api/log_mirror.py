"""A tlog-tiles client: fetch a peer's checkpoint, tiles and entries, and verify them.

What any mirror does (C2SP tlog-tiles): read every tile of the checkpoint's tree,
check them with ``verify_tiles`` against the checkpoint root, then check each
entry bundle against its level-0 tile. Nothing fetched is trusted before that.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.merkle import NodeReader
from tisa.ledger.tiles import (
    TiledNodeReader,
    TileRef,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)

__all__ = ["LogMirror"]

Progress = Callable[[int], None]


class LogMirror:
    """The ``/log/`` of one peer at ``endpoint`` (``http(s)://host[:port]``)."""

    def __init__(self, client: httpx.Client, endpoint: str) -> None:
        self.client = client
        self.base = endpoint.rstrip("/") + "/log/"
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._size = 0

    def _get(self, path: str) -> bytes:
        response = self.client.get(self.base + path)
        if response.status_code != 200:
            raise VerificationError(f"{self.base}{path}: HTTP {response.status_code}")
        return response.content

    def checkpoint(self) -> bytes:
        return self._get("checkpoint")

    def verify_tree(self, size: int, root_hash: bytes) -> int:
        """Fetch every tile of the tree of ``size`` and check it gives ``root_hash``."""
        self._tiles.clear()

        def read(level: int, index: int, width: int) -> bytes:
            data = self._get(TileRef(level=level, index=index, width=width).path)
            self._tiles[(level, index)] = data
            return data

        self._size = size
        return verify_tiles(read, size, root_hash)

    def node_reader(self) -> NodeReader:
        """Proofs from the tiles ``verify_tree`` fetched and checked."""
        return TiledNodeReader(lambda lv, ix, w: self._tiles[(lv, ix)][: 32 * w], self._size)

    def entries(self, progress: Progress | None = None) -> list[bytes]:
        """Every entry of the verified tree, each checked against its leaf hash."""
        out: list[bytes] = []
        for ref in tiles_for_size(self._size, entries=True):
            tile = self._tiles.get((0, ref.index))
            if tile is None:
                raise InvalidInput("call verify_tree before entries")
            bundle = self._get(ref.path)
            out.extend(verify_entry_bundle(bundle, tile[: 32 * ref.width], ref.width))
            if progress is not None:
                progress(len(out))
        return out
