"""What the durable log checks before it signs: the last checkpoint it ever signed.

Two records of that checkpoint are kept: the ``log_checkpoints`` table, and a
high-water file in the node home (``DIR/log-checkpoint``, replaced atomically after
each signature). A database restored from an old copy loses the table rows but not
the file, so the next signature fails closed with ``IntegrityError`` instead of
signing a second history.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from tisa.errors import IntegrityError, InvalidInput, VerificationError
from tisa.ledger.checkpoint import SignedCheckpoint, next_checkpoint, open_checkpoint
from tisa.ledger.merkle import consistency_proof
from tisa.ledger.note import Ed25519Signer
from tisa.store.sql import engine_for
from tisa.store.sql_log_reader import SqlLogReader

__all__ = ["HIGH_WATER_FILE", "HighWaterFile", "checkpoint_to_sign", "durable_engine",
           "remember_own"]

HIGH_WATER_FILE = "log-checkpoint"


def durable_engine(url: str) -> Engine:
    """The store's engine, with SQLite commits synced to disk (``synchronous=FULL``)."""
    engine = engine_for(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _full_sync(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

    return engine


class HighWaterFile:
    """The latest checkpoint note this node signed, outside the database.

    ``write`` is safe against concurrent writers (the log publisher's signing can overlap
    a request's commit): each write goes to its own temporary file in the same directory
    (synced before it replaces the file), and the check-and-replace runs under one lock
    per path, so a later checkpoint is never replaced by an earlier one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _lock_for(path)

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def write(self, note: bytes) -> None:
        size = _size_of(note)
        current = self.read()
        if current is not None and _size_of(current) >= size:
            return  # another writer already recorded a later one
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(note)
                out.flush()
                os.fsync(out.fileno())
            with self._lock:
                current = self.read()
                if current is None or _size_of(current) < size:
                    os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # not replaced: a later one won, or the write failed


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())


#: One lock per high-water path in this process (two logs on one node home share it).
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _size_of(note: bytes) -> int:
    try:
        return int(note.split(b"\n", 2)[1])
    except (IndexError, ValueError):
        return -1


def _open_own(note: bytes, signer: Ed25519Signer, what: str) -> SignedCheckpoint:
    key = (note, signer.verifier.verifier_key)
    opened = _OPENED.get(key)
    if opened is not None:
        return opened
    try:
        opened = open_checkpoint(note, [signer.verifier], origin=signer.name)
    except (InvalidInput, VerificationError) as exc:
        raise IntegrityError(f"{what} is not a checkpoint signed by this log: {exc}") from exc
    remember_own(note, signer, opened)
    return opened


def remember_own(note: bytes, signer: Ed25519Signer, signed: SignedCheckpoint) -> None:
    """``note`` opens under ``signer``'s key as ``signed`` (just verified, or just signed)."""
    _OPENED.clear()  # only the latest matters: it is what the next signature checks again
    _OPENED[(note, signer.verifier.verifier_key)] = signed


#: The last note that opened under this log's key: the stored row and the high-water file
#: normally hold the same note, checked before every signature. The same bytes under the
#: same key verify the same way, so one signature check serves until a new note is signed.
_OPENED: dict[tuple[bytes, str], SignedCheckpoint] = {}


def checkpoint_to_sign(
    conn: Connection,
    reader: SqlLogReader,
    *,
    origin: str,
    verifier: Ed25519Signer,
    size: int,
    root_hash: bytes,
    high_water: HighWaterFile | None,
) -> tuple[SignedCheckpoint | None, int]:
    """Check that the stored tree (``size``, ``root_hash``) extends every record of the last
    signed checkpoint; return the latest stored one and its size. ``IntegrityError`` if not."""
    latest = reader.latest_note(conn)
    previous = None if latest is None else _open_own(latest[1], verifier, "the stored checkpoint")
    records = [] if previous is None else [("the last stored checkpoint", previous)]
    mark = None if high_water is None else high_water.read()
    if mark is not None:
        records.append((f"the checkpoint in {high_water.path if high_water else ''}",
                        _open_own(mark, verifier, "the high-water checkpoint")))
    tree = reader.node_reader(size, conn) if size else None
    checked: set[tuple[int, bytes]] = set()
    for what, signed in records:
        old = signed.checkpoint
        if (old.size, old.root_hash) in checked:
            continue  # the two records name the same checkpoint (the usual case): one proof
        checked.add((old.size, old.root_hash))
        if old.size > size:
            raise IntegrityError(
                f"{what} has size {old.size} but the stored tree has only {size} entries: "
                "the database was rolled back or lost entries; refusing to sign"
            )
        proof = [] if tree is None else consistency_proof(tree, old.size, size)
        next_checkpoint(old, origin=origin, size=size, root_hash=root_hash,
                        consistency_proof=proof)
    return previous, 0 if previous is None else previous.checkpoint.size
