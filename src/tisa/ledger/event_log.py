"""The port through which a node records exchange events, and a real in-memory log.

The exchange layer records one ``LogEntry`` per event and asks for offline
receipts (C2SP ``tlog-proof``) of entries it must prove. A receipt carries the
entry's canonical bytes in its ``extra`` line, so a verifier can rebuild the
leaf (``tisa.ledger.receipt_proofs``). The durable,
SQL-backed implementation lives in ``tisa.store``; ``MemoryEventLog`` is a
complete in-memory implementation for tests and exercises (same formats,
same signing rules, nothing persisted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tisa.ledger.checkpoint import Checkpoint, SignedCheckpoint, next_checkpoint, sign_checkpoint
from tisa.ledger.entries import LogEntry
from tisa.ledger.merkle import MerkleTree
from tisa.ledger.note import Signer
from tisa.ledger.tlog_proof import TlogProof

__all__ = ["EventLog", "MemoryEventLog"]


class EventLog(Protocol):
    """A node's append-only transparency log, as the exchange layer sees it."""

    @property
    def origin(self) -> str:
        """The log's origin line (and note key name)."""
        ...

    def record(self, entries: Sequence[LogEntry], *, checkpoint: bool = False) -> list[int]:
        """Append the entries durably, in order, in one transaction; return their indexes.
        With ``checkpoint``: also sign a checkpoint that includes them, in the same
        transaction (for entries whose receipts are proven next)."""
        ...

    def receipt_proof(self, index: int) -> bytes:
        """A C2SP tlog-proof of entry ``index``, its canonical bytes in ``extra``, against a
        signed checkpoint that includes it (signing a new checkpoint first when the
        latest one does not). The same as ``receipt_proofs([index])[0]``."""
        ...

    def receipt_proofs(self, indexes: Sequence[int]) -> list[bytes]:
        """``receipt_proof`` of each index, in order, all against one checkpoint (at most
        one signature, one checkpoint read, for the whole batch)."""
        ...

    def latest_checkpoint(self) -> bytes | None:
        """The latest signed checkpoint note, or None before the first entry."""
        ...


class MemoryEventLog:
    """``EventLog`` in memory: RFC 6962 tree, checkpoints signed as C2SP notes."""

    def __init__(self, *, origin: str, signer: Signer) -> None:
        self._origin = origin
        self._signer = signer
        self._tree = MerkleTree()
        self._entries: list[bytes] = []
        self._checkpoint: SignedCheckpoint | None = None

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        return self._tree.size

    def entries(self) -> list[bytes]:
        return list(self._entries)

    def record(self, entries: Sequence[LogEntry], *, checkpoint: bool = False) -> list[int]:
        encoded = [entry.to_bytes() for entry in entries]  # all valid before any append
        indexes = []
        for data in encoded:
            self._entries.append(data)
            indexes.append(self._tree.append(data))
        if checkpoint and indexes:
            self.sign()
        return indexes

    def sign(self) -> SignedCheckpoint:
        """Sign a checkpoint of the current tree (only if it extends the last one signed)."""
        previous: Checkpoint | None = None
        proof: list[bytes] = []
        if self._checkpoint is not None:
            previous = self._checkpoint.checkpoint
            proof = self._tree.consistency_proof(previous.size, self._tree.size)
        checkpoint = next_checkpoint(
            previous, origin=self._origin, size=self._tree.size, root_hash=self._tree.root(),
            consistency_proof=proof,
        )
        self._checkpoint = sign_checkpoint(checkpoint, [self._signer])
        return self._checkpoint

    def receipt_proof(self, index: int) -> bytes:
        return self.receipt_proofs([index])[0]

    def receipt_proofs(self, indexes: Sequence[int]) -> list[bytes]:
        if not indexes:
            return []
        for index in indexes:
            if not 0 <= index < self._tree.size:
                raise IndexError(f"entry {index} is not in the log (size {self._tree.size})")
        signed = self._checkpoint
        if signed is None or signed.checkpoint.size <= max(indexes):
            signed = self.sign()
        size = signed.checkpoint.size
        note = signed.to_bytes()
        return [TlogProof(index=index, proof=tuple(self._tree.inclusion_proof(index, size)),
                          checkpoint_note=note, extra=self._entries[index]).to_bytes()
                for index in indexes]

    def latest_checkpoint(self) -> bytes | None:
        return None if self._checkpoint is None else self._checkpoint.to_bytes()
