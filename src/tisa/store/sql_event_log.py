"""The durable ``EventLog``: a node's transparency log on SQLite or PostgreSQL.

Writes. ``record`` is a group commit: callers queue their entries, one of them
(the leader) takes the writers' lock — the ``log_state`` row, locked by an
UPDATE (a row lock on PostgreSQL, the write lock on SQLite) — and commits every
queued batch in one transaction: entry rows, the hash tiles the appends touched
(from ``CompactRange.append``), and the new size. Several processes on one
PostgreSQL queue on the row, and a writer that finds the size moved reloads its
right edge first, so indexes have no gaps and no duplicates.

Checkpoints. :meth:`SqlEventLog.sign_checkpoint` signs only through
``next_checkpoint`` against the last checkpoint stored (and the node home's
high-water file, which a restored database copy cannot roll back). A tree that
cannot prove consistency with it raises ``IntegrityError``; from then on this log
refuses to sign or serve checkpoints, and logs it at CRITICAL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, insert, update
from sqlalchemy.exc import OperationalError

from tisa.errors import ConfigError, IntegrityError, InvalidInput
from tisa.ledger.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from tisa.ledger.compact_range import CompactRange
from tisa.ledger.entries import LogEntry
from tisa.ledger.merkle import inclusion_proofs, leaf_hash
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from tisa.ledger.tlog_proof import TlogProof
from tisa.store import ledger_tables as lt
from tisa.store.log_signing import (
    HighWaterFile,
    checkpoint_to_sign,
    durable_engine,
    remember_own,
)
from tisa.store.migrate import migrate
from tisa.store.sql_log_reader import SqlLogReader
from tisa.store.tile_nodes import inner_nodes

__all__ = ["SqlEventLog"]

log = logging.getLogger("tisa.ledger")


@dataclass
class _Batch:
    data: list[bytes]
    checkpoint: bool = False
    indexes: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class SqlEventLog:
    """Implements ``tisa.ledger.event_log.EventLog`` durably (see the module docstring)."""

    def __init__(self, engine: Engine, *, origin: str, signer: Ed25519Signer,
                 high_water: Path | None = None) -> None:
        if signer.name != origin:
            raise ConfigError(f"the log key's name {signer.name!r} must be the origin {origin!r}")
        self.engine = engine
        self.reader = SqlLogReader(engine)
        self._origin = origin
        self._signer = signer
        self._high_water = None if high_water is None else HighWaterFile(high_water)
        self._edge = CompactRange()
        self._partial: dict[int, bytearray] = {}  # tile level -> hashes of its partial tile
        self._cv = threading.Condition()
        self._queue: list[_Batch] = []
        self._committing = False
        self._write_lock = threading.Lock()  # one writer transaction per process
        self._failure: IntegrityError | None = None
        self._stale = True  # the in-memory edge must be (re)loaded from the database

    @classmethod
    def open(cls, url: str, *, origin: str, signer: Ed25519Signer,
             high_water: Path | None = None) -> SqlEventLog:
        """Connect, migrate, and check the stored tree against the last signed checkpoint."""
        engine = durable_engine(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise ConfigError(f"cannot open the log database: {exc.orig}") from None
        event_log = cls(engine, origin=origin, signer=signer, high_water=high_water)
        event_log.check_consistency()
        return event_log

    def close(self) -> None:
        self.engine.dispose()

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        return self.reader.stored_size()

    # -- appending ---------------------------------------------------------------------

    def record(self, entries: Sequence[LogEntry], *, checkpoint: bool = False) -> list[int]:
        """Append durably, in order, in one transaction (shared with concurrent callers);
        with ``checkpoint``, sign a checkpoint that includes them in that same transaction
        (one durable commit, not two, when their receipts are proven next).

        Fails closed: if that signature's check finds the tree inconsistent with the last
        signed checkpoint (a rolled-back database), the whole transaction rolls back,
        every caller of the group (with a checkpoint asked for or not) gets the
        ``IntegrityError`` and nothing is appended. From then on the log refuses to sign,
        and later appends are recorded without signing; ``receipt_proofs`` raises. Raising
        the high-water file after the commit never fails an append (see ``_signed``)."""
        batch = _Batch(data=[e.to_bytes() for e in entries],  # all valid before any append
                       checkpoint=checkpoint)
        if not batch.data:
            return []
        with self._cv:
            self._queue.append(batch)
            while not batch.done and self._committing:
                self._cv.wait()
            if batch.done:
                return self._result(batch)
            self._committing = True
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        except Exception as exc:  # every caller of the group sees the same IntegrityError
            for b in group:
                b.error = exc
        finally:
            with self._cv:
                for b in group:
                    b.done = True
                self._committing = False
                self._cv.notify_all()
        return self._result(batch)

    @staticmethod
    def _result(batch: _Batch) -> list[int]:
        if batch.error is not None:
            raise IntegrityError(f"the log commit failed: {batch.error}") from batch.error
        return batch.indexes

    def _commit(self, group: list[_Batch]) -> None:
        signed = None
        with self._write_lock, self.engine.begin() as conn:
            self._lock_and_sync(conn)
            self._stale = True  # until this transaction commits
            dirty = self._append_all(group)
            rows = [{"idx": i, "data": d} for b in group for i, d in zip(b.indexes, b.data,
                                                                         strict=True)]
            conn.execute(insert(lt.log_entries), rows)
            for level, index in dirty:
                conn.execute(delete(lt.log_tiles).where(lt.log_tiles.c.level == level,
                                                        lt.log_tiles.c.idx == index))
            conn.execute(insert(lt.log_tiles), [
                {"level": level, "idx": index, "hashes": hashes,
                 "inner": inner_nodes(hashes)}
                for (level, index), hashes in dirty.items()
            ])
            conn.execute(update(lt.log_state).where(lt.log_state.c.id == 1)
                         .values(size=self._edge.size))
            if self._failure is None and any(b.checkpoint for b in group):
                signed = self._sign(conn, self._edge.size)
        self._stale = False
        if signed is not None:
            self._signed(signed)

    def _append_all(self, group: list[_Batch]) -> dict[tuple[int, int], bytes]:
        edge = self._edge
        dirty: dict[tuple[int, int], bytes] = {}
        for b in group:
            for data in b.data:
                b.indexes.append(edge.size)
                for node in edge.append(leaf_hash(data)):
                    level, rest = divmod(node.level, TILE_HEIGHT)
                    if rest:
                        continue
                    tile = self._partial.setdefault(level, bytearray())
                    if len(tile) != (node.index % TILE_WIDTH) * 32:
                        raise IntegrityError(f"tile {level}/{node.index // TILE_WIDTH} is out of "
                                             "step with the tree; reload the log")
                    tile += node.hash
                    tile_index = node.index // TILE_WIDTH
                    dirty[(level, tile_index)] = bytes(tile)
                    if len(tile) == TILE_WIDTH * 32:
                        self._partial[level] = bytearray()
        return dirty

    def _lock_and_sync(self, conn: Connection) -> int:
        """Take the writers' lock; reload the right edge if another writer moved the size."""
        conn.execute(update(lt.log_state).where(lt.log_state.c.id == 1)
                     .values(size=lt.log_state.c.size))
        size = int(conn.execute(lt.log_state.select().with_only_columns(lt.log_state.c.size)
                                .where(lt.log_state.c.id == 1)).scalar_one())
        if self._stale or size != self._edge.size:
            reader = self.reader.node_reader(size, conn)
            self._edge = CompactRange.resume(reader, size)
            self._partial = {}
            level = 0
            while size >> (TILE_HEIGHT * level):
                width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
                index = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                self._partial[level] = bytearray(
                    self.reader.tile(level, index, width, conn) if width else b"")
                level += 1
        return size

    # -- checkpoints -------------------------------------------------------------------

    def _refuse_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def check_consistency(self) -> None:
        """Check the stored tree extends the last signed checkpoint; fail closed if not."""
        self._refuse_if_failed()
        with self._write_lock, self.engine.begin() as conn:
            size = self._lock_and_sync(conn)
            self._checked(conn, size)

    def _checked(self, conn: Connection, size: int) -> tuple[SignedCheckpoint | None, int]:
        try:
            return checkpoint_to_sign(
                conn, self.reader, origin=self._origin, verifier=self._signer,
                size=size, root_hash=self._edge.root(), high_water=self._high_water)
        except IntegrityError as exc:
            self._failure = exc
            log.critical("transparency log %s refuses to sign: %s", self._origin, exc)
            raise

    def sign_checkpoint(self) -> SignedCheckpoint | None:
        """Sign and store a checkpoint of the current tree if it grew; None if it did not."""
        self._refuse_if_failed()
        with self._write_lock, self.engine.begin() as conn:
            signed = self._sign(conn, self._lock_and_sync(conn))
        if signed is not None:
            self._signed(signed)
        return signed

    def _sign(self, conn: Connection, size: int) -> SignedCheckpoint | None:
        """In the writer's transaction (its lock held, the edge in step with ``size``):
        check the tree against the last signed checkpoint, then sign and store one of
        ``size`` if it grew; None if it did not."""
        previous, _ = self._checked(conn, size)
        if size == 0 or (previous is not None and previous.checkpoint.size == size):
            return None  # nothing new (and no checkpoint before the first entry)
        cp = Checkpoint(origin=self._origin, size=size, root_hash=self._edge.root())
        signed = sign_checkpoint(cp, [self._signer])
        conn.execute(insert(lt.log_checkpoints).values(
            size=size, root_hash=cp.root_hash, note=signed.to_bytes(),
            signed_us=time.time_ns() // 1000))
        return signed

    def _signed(self, signed: SignedCheckpoint) -> None:
        """After the commit that stored ``signed``: remember it, and raise the high-water
        file to it (after the commit: the file never names a checkpoint the database
        does not hold).

        Never raises: the entries and the checkpoint are committed, so a failure here
        (a full disk, a missing directory) must not tell a caller its append failed (it
        would retry and log the entries twice). It is logged instead. A file left behind
        is safe: every signature (and the start-up check) proves the tree consistent with
        the file's earlier checkpoint as well as with the stored one, and the next
        signature raises the file again."""
        note = signed.to_bytes()
        remember_own(note, self._signer, signed)
        if self._high_water is None:
            return
        try:
            self._high_water.write(note)
        except Exception:  # committed already: reported, not raised
            log.exception(
                "transparency log %s: checkpoint %d is signed and stored, but raising the "
                "high-water file %s to it failed; the file keeps an earlier checkpoint "
                "until the next signature raises it (a database restored from a copy "
                "taken in between would not be caught by the file)",
                self._origin, signed.checkpoint.size, self._high_water.path)

    def latest_checkpoint(self) -> bytes | None:
        """The latest signed checkpoint with the witnesses' cosignatures received so far."""
        self._refuse_if_failed()
        latest = self.reader.latest_note()
        return None if latest is None else self.reader.cosigned_note(*latest)

    def receipt_proof(self, index: int) -> bytes:
        return self.receipt_proofs([index])[0]

    def receipt_proofs(self, indexes: Sequence[int]) -> list[bytes]:
        """Tlog-proofs of the entries, their bytes in ``extra``, against one checkpoint:
        one checkpoint read (and at most one signature), one cosigned-note read, one
        entries read and one node reader for the whole batch."""
        if not indexes:
            return []
        self._refuse_if_failed()
        top = max(indexes)
        latest = self.reader.latest_note()
        if latest is None or latest[0] <= top:
            signed = self.sign_checkpoint()
            latest = (self.reader.latest_note() if signed is None
                      else (signed.checkpoint.size, signed.to_bytes()))
        if latest is None or min(indexes) < 0 or top >= latest[0]:
            bad = next(i for i in indexes if latest is None or not 0 <= i < latest[0])
            raise InvalidInput(f"entry {bad} is not in the log")
        size, note = latest
        checkpoint_note = self.reader.cosigned_note(size, note)
        entries = self.reader.entries_at(indexes)
        nodes = self.reader.node_reader(size)
        proofs = []
        for index, path in zip(indexes, inclusion_proofs(nodes, indexes, size), strict=True):
            data = entries.get(index)
            if data is None:
                raise IntegrityError(f"entry {index} is below the checkpoint size {size} "
                                     "but not stored")
            proofs.append(TlogProof(index=index, proof=tuple(path),
                                    checkpoint_note=checkpoint_note, extra=data).to_bytes())
        return proofs

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        """Store a witness's cosignature line for our checkpoint of ``size`` (verified)."""
        with self.engine.begin() as conn:
            conn.execute(delete(lt.log_cosignatures).where(
                lt.log_cosignatures.c.size == size, lt.log_cosignatures.c.witness == witness))
            conn.execute(insert(lt.log_cosignatures).values(
                size=size, witness=witness, line=line, received_us=time.time_ns() // 1000))
