"""Reading the stored transparency log: tiles, entry bundles, entries, checkpoints.

Full tiles never change once written, so they are cached with their inner nodes
(``tile_nodes``); a partial tile is the prefix of the stored (growing) tile row,
because hashes of complete subtrees never change either. Every read is a
primary-key lookup, so a proof at any size reads O(log n) rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, select, text

from tisa.errors import IntegrityError, NotFound
from tisa.ledger.merkle import HASH_SIZE
from tisa.ledger.tiles import TILE_WIDTH, encode_entry_bundle
from tisa.store import ledger_tables as lt
from tisa.store.tile_nodes import TileNodeReader, inner_nodes, split_levels

__all__ = ["SqlLogReader", "blob"]

_ENTRY_RANGE = text(
    "SELECT idx, data FROM log_entries WHERE idx >= :start AND idx < :stop ORDER BY idx"
)


def blob(value: object) -> bytes:
    """A stored blob as bytes, whatever the driver (or a hand edit) turned it into."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise IntegrityError(f"a stored blob has type {type(value).__name__}")


class SqlLogReader:
    """Reads one node's log tables; safe to share between threads."""

    def __init__(self, engine: Engine, *, cache_tiles: int = 4096) -> None:
        self.engine = engine
        self._cache: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()
        self._cache_tiles = cache_tiles
        self._lock = threading.Lock()

    # -- tiles -------------------------------------------------------------------------

    def _row(self, level: int, index: int, conn: Connection | None) -> tuple[bytes, bytes | None]:
        stmt = select(lt.log_tiles.c.hashes, lt.log_tiles.c.inner).where(
            lt.log_tiles.c.level == level, lt.log_tiles.c.idx == index
        )
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(stmt).first()
        else:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFound(f"tile {level}/{index} is not in the log")
        return blob(row[0]), None if row[1] is None else blob(row[1])

    def levels(self, level: int, index: int, width: int,
               conn: Connection | None = None) -> list[bytes]:
        """Tile ``level/index`` and its inner levels, at least ``width`` hashes wide."""
        key = (level, index)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None or len(cached[0]) < width * HASH_SIZE:
            hashes, inner = self._row(level, index, conn)
            if len(hashes) < width * HASH_SIZE:
                raise NotFound(f"tile {level}/{index} has fewer than {width} hashes")
            cached = split_levels(hashes, inner if inner is not None else inner_nodes(hashes))
            with self._lock:  # a growing tile's prefixes never change, so caching it is safe
                self._cache[key] = cached
                if len(self._cache) > self._cache_tiles:
                    self._cache.popitem(last=False)
        return cached

    def tile(self, level: int, index: int, width: int, conn: Connection | None = None) -> bytes:
        """The bytes of hash tile ``level/index`` at ``width``; ``NotFound`` if not stored."""
        return self.levels(level, index, width, conn)[0][: width * HASH_SIZE]

    def node_reader(self, size: int, conn: Connection | None = None) -> TileNodeReader:
        """A ``NodeReader`` for the tree of ``size`` leaves, backed by the stored tiles."""

        def levels(level: int, index: int, width: int) -> list[bytes]:
            try:
                return self.levels(level, index, width, conn)
            except NotFound as exc:
                raise IntegrityError(
                    f"the stored tree of size {size} is missing a tile: {exc}") from exc

        return TileNodeReader(levels, size)

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- entries -----------------------------------------------------------------------

    def entry_bundle(self, index: int, width: int) -> bytes:
        first = index * TILE_WIDTH
        with self.engine.connect() as c:
            rows = c.execute(
                select(lt.log_entries.c.data)
                .where(lt.log_entries.c.idx >= first, lt.log_entries.c.idx < first + width)
                .order_by(lt.log_entries.c.idx)
            ).all()
        if len(rows) != width:
            raise NotFound(f"entry bundle {index} has fewer than {width} entries")
        return encode_entry_bundle([blob(r[0]) for r in rows])

    def entries(self, start: int = 0, end: int | None = None, *, chunk: int = 20_000
                ) -> Iterator[tuple[int, bytes]]:
        """``(index, bytes)`` of the stored entries in index order, read in chunks."""
        pos = start
        while end is None or pos < end:
            stop = pos + chunk if end is None else min(end, pos + chunk)
            with self.engine.connect() as c:
                # Plain SQL, no result processing: an audit reads every entry through here.
                rows = c.execute(_ENTRY_RANGE, {"start": pos, "stop": stop}).all()
            if not rows:
                return
            for idx, data in rows:
                yield idx, data if type(data) is bytes else blob(data)
            pos = int(rows[-1][0]) + 1

    def entries_at(self, indexes: Iterable[int], *, chunk: int = 500) -> dict[int, bytes]:
        """``index -> bytes`` of the stored entries at these indexes (absent ones left out)."""
        wanted = sorted(set(indexes))
        out: dict[int, bytes] = {}
        with self.engine.connect() as c:
            for start in range(0, len(wanted), chunk):
                rows = c.execute(select(lt.log_entries.c.idx, lt.log_entries.c.data).where(
                    lt.log_entries.c.idx.in_(wanted[start : start + chunk]))).all()
                out.update((int(idx), blob(data)) for idx, data in rows)
        return out

    def stored_size(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(lt.log_state.c.size).where(lt.log_state.c.id == 1))
                       .scalar_one())

    def tile_rows(self) -> Iterator[tuple[int, int, bytes, bytes | None]]:
        """Every stored tile row ``(level, index, hashes, inner)``, for the audit."""
        with self.engine.connect() as c:
            result = c.execute(
                select(lt.log_tiles.c.level, lt.log_tiles.c.idx, lt.log_tiles.c.hashes,
                       lt.log_tiles.c.inner)
                .order_by(lt.log_tiles.c.level, lt.log_tiles.c.idx)
            )
            for level, idx, hashes, inner in result:
                yield int(level), int(idx), blob(hashes), None if inner is None else blob(inner)

    # -- checkpoints -------------------------------------------------------------------

    def checkpoint_notes(self) -> list[bytes]:
        """Every signed checkpoint note, in size order (signatures of the node only)."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(lt.log_checkpoints.c.note).order_by(lt.log_checkpoints.c.size)
            ).all()
        return [blob(r[0]) for r in rows]

    def latest_note(self, conn: Connection | None = None) -> tuple[int, bytes] | None:
        """``(size, note)`` of the largest checkpoint signed, without cosignatures."""
        stmt = (
            select(lt.log_checkpoints.c.size, lt.log_checkpoints.c.note)
            .order_by(lt.log_checkpoints.c.size.desc())
            .limit(1)
        )
        if conn is None:
            with self.engine.connect() as c:
                row = c.execute(stmt).first()
        else:
            row = conn.execute(stmt).first()
        return None if row is None else (int(row[0]), blob(row[1]))

    def cosignature_lines(self, size: int) -> list[str]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(lt.log_cosignatures.c.line)
                .where(lt.log_cosignatures.c.size == size)
                .order_by(lt.log_cosignatures.c.witness)
            ).all()
        return [str(r[0]) for r in rows]

    def cosigned_note(self, size: int, note: bytes) -> bytes:
        """The checkpoint note with every stored witness cosignature appended."""
        return note + "".join(self.cosignature_lines(size)).encode()
