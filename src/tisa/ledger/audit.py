"""Pure audit checks: a log against its checkpoints, a peer's new checkpoint, cross-logs.

Every check returns structured :class:`Finding` values instead of raising, so
``tisa audit`` can report every discrepancy at once; an empty list means the
check held. Malformed *arguments* (not malformed log data) still raise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import Checkpoint, open_checkpoint
from tisa.ledger.cosignature import count_cosigners
from tisa.ledger.entries import EntryKind, LogEntry, parse_entry
from tisa.ledger.merkle import MerkleTree
from tisa.ledger.note import Verifier
from tisa.ledger.proofs import verify_consistency

__all__ = [
    "Finding",
    "FindingKind",
    "LogAudit",
    "PeerCheck",
    "audit_log",
    "check_peer_checkpoint",
    "cross_check",
]

_MAX_ENTRY_FINDINGS = 100


class FindingKind(StrEnum):
    MALFORMED_ENTRY = "malformed-entry"
    MALFORMED_CHECKPOINT = "malformed-checkpoint"
    BAD_SIGNATURE = "bad-signature"
    WRONG_ORIGIN = "wrong-origin"
    ROOT_MISMATCH = "root-mismatch"
    MISSING_ENTRIES = "missing-entries"
    TOO_FEW_COSIGNATURES = "too-few-cosignatures"
    INCONSISTENT = "inconsistent"
    ROLLBACK = "rollback"
    FORK = "fork"
    NOT_RECEIVED = "not-received"
    NOT_SENT = "not-sent"


@dataclass(frozen=True, kw_only=True)
class Finding:
    kind: FindingKind
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"kind": str(self.kind), "where": self.where, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class LogAudit:
    entries: int
    checkpoints: int
    root: bytes
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def _open_stored(
    item: bytes | Checkpoint, n: int, origin: str | None, verifiers: Sequence[Verifier]
) -> tuple[Checkpoint | None, Finding | None]:
    where = f"checkpoint #{n}"
    if isinstance(item, Checkpoint):
        cp = item
    else:
        try:
            cp = open_checkpoint(item, verifiers).checkpoint
        except InvalidInput as exc:
            return None, Finding(
                kind=FindingKind.MALFORMED_CHECKPOINT, where=where, message=str(exc)
            )
        except VerificationError as exc:
            return None, Finding(kind=FindingKind.BAD_SIGNATURE, where=where, message=str(exc))
    if origin is not None and cp.origin != origin:
        msg = f"origin {cp.origin!r}, expected {origin!r}"
        return None, Finding(kind=FindingKind.WRONG_ORIGIN, where=where, message=msg)
    return cp, None


def audit_log(
    entries: Iterable[bytes],
    checkpoints: Iterable[bytes | Checkpoint],
    *,
    origin: str | None = None,
    log_verifiers: Sequence[Verifier] = (),
    check_entries: bool = True,
) -> LogAudit:
    """Recompute the tree from ``entries`` and check every stored checkpoint's root.

    Signed checkpoints (bytes) are verified with ``log_verifiers``; a checkpoint
    larger than the stored log means entries were lost or the store rolled back.
    """
    findings: list[Finding] = []
    wanted: dict[int, list[tuple[int, Checkpoint]]] = {}
    count = 0
    for n, item in enumerate(checkpoints):
        count += 1
        cp, problem = _open_stored(item, n, origin, log_verifiers)
        if problem is not None:
            findings.append(problem)
        if cp is not None:
            wanted.setdefault(cp.size, []).append((n, cp))
    tree = MerkleTree()
    malformed = 0

    def check_at(size: int) -> None:
        root = tree.root()
        for n, cp in wanted.pop(size, []):
            if cp.root_hash != root:
                findings.append(
                    Finding(
                        kind=FindingKind.ROOT_MISMATCH,
                        where=f"checkpoint #{n} (size {size})",
                        message="the stored entries give a different root than the checkpoint",
                    )
                )

    check_at(0)
    for index, entry in enumerate(entries):
        if check_entries:
            try:
                parse_entry(entry)
            except InvalidInput as exc:
                malformed += 1
                if malformed <= _MAX_ENTRY_FINDINGS:
                    findings.append(
                        Finding(
                            kind=FindingKind.MALFORMED_ENTRY,
                            where=f"entry {index}",
                            message=exc.diagnostics(),
                        )
                    )
        tree.append(entry)
        if tree.size in wanted:
            check_at(tree.size)
    if malformed > _MAX_ENTRY_FINDINGS:
        findings.append(
            Finding(
                kind=FindingKind.MALFORMED_ENTRY,
                where="entries",
                message=f"{malformed} malformed entries in all; the first "
                f"{_MAX_ENTRY_FINDINGS} are listed",
            )
        )
    for size in sorted(wanted):
        for n, _ in wanted[size]:
            findings.append(
                Finding(
                    kind=FindingKind.MISSING_ENTRIES,
                    where=f"checkpoint #{n} (size {size})",
                    message=f"signed for {size} entries but only {tree.size} are stored: "
                    "entries were lost or the store was rolled back",
                )
            )
    return LogAudit(
        entries=tree.size, checkpoints=count, root=tree.root(), findings=tuple(findings)
    )


@dataclass(frozen=True, kw_only=True)
class PeerCheck:
    checkpoint: Checkpoint | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def check_peer_checkpoint(
    note: bytes,
    *,
    peer: str,
    origin: str,
    log_verifiers: Sequence[Verifier],
    last_seen: Checkpoint | None,
    consistency_proof: Sequence[bytes] = (),
    witness_verifiers: Sequence[Verifier] = (),
    witness_quorum: int = 0,
) -> PeerCheck:
    """Check a peer's latest checkpoint: signature, cosignatures, consistency with
    the last one seen. Accept ``checkpoint`` as the new last-seen only if ``ok``."""
    where = f"peer {peer}"
    try:
        signed = open_checkpoint(note, log_verifiers, origin=origin)
    except InvalidInput as exc:
        kind = FindingKind.MALFORMED_CHECKPOINT
        return PeerCheck(
            checkpoint=None, findings=(Finding(kind=kind, where=where, message=str(exc)),)
        )
    except VerificationError as exc:
        kind = FindingKind.BAD_SIGNATURE
        return PeerCheck(
            checkpoint=None, findings=(Finding(kind=kind, where=where, message=str(exc)),)
        )
    cp = signed.checkpoint
    findings: list[Finding] = []
    try:
        cosigned = count_cosigners(signed.note, witness_verifiers)
    except VerificationError as exc:
        findings.append(Finding(kind=FindingKind.BAD_SIGNATURE, where=where, message=str(exc)))
        cosigned = 0
    if cosigned < witness_quorum:
        findings.append(
            Finding(
                kind=FindingKind.TOO_FEW_COSIGNATURES,
                where=where,
                message=f"{cosigned} known witness cosignature(s), {witness_quorum} required",
            )
        )
    if last_seen is not None:
        if cp.size < last_seen.size:
            findings.append(
                Finding(
                    kind=FindingKind.ROLLBACK,
                    where=where,
                    message=f"checkpoint size {cp.size} is below the {last_seen.size} seen before",
                )
            )
        elif cp.size == last_seen.size and cp.root_hash != last_seen.root_hash:
            findings.append(
                Finding(
                    kind=FindingKind.FORK,
                    where=where,
                    message=f"two different roots for size {cp.size}: the log forked",
                )
            )
        else:
            try:
                verify_consistency(
                    last_seen.size, cp.size, last_seen.root_hash, cp.root_hash, consistency_proof
                )
            except VerificationError as exc:
                findings.append(
                    Finding(kind=FindingKind.INCONSISTENT, where=where, message=str(exc))
                )
    return PeerCheck(checkpoint=cp, findings=tuple(findings))


def _key(e: LogEntry) -> tuple[str, int, str | None, str, str]:
    return (e.item_id, e.item_version, e.envelope_sha256, e.from_party, e.to_party)


def cross_check(
    *,
    own_party: str,
    peer: str,
    own_entries: Iterable[LogEntry],
    peer_entries: Iterable[LogEntry],
) -> list[Finding]:
    """Every item we sent to ``peer`` is ``received`` in its log; every item we
    received from it is ``sent`` in its log (same item, version, envelope digest)."""
    peer_received: Counter[tuple[str, int, str | None, str, str]] = Counter()
    peer_sent: Counter[tuple[str, int, str | None, str, str]] = Counter()
    for e in peer_entries:
        if e.kind is EntryKind.RECEIVED:
            peer_received[_key(e)] += 1
        elif e.kind is EntryKind.SENT:
            peer_sent[_key(e)] += 1
    findings: list[Finding] = []
    for e in own_entries:
        if e.kind is EntryKind.SENT and e.from_party == own_party and e.to_party == peer:
            if peer_received[_key(e)] > 0:
                peer_received[_key(e)] -= 1
            else:
                findings.append(
                    Finding(
                        kind=FindingKind.NOT_RECEIVED,
                        where=f"peer {peer}",
                        message=f"item {e.item_id} v{e.item_version} sent at {e.at} "
                        "is not logged as received",
                    )
                )
        elif e.kind is EntryKind.RECEIVED and e.from_party == peer and e.to_party == own_party:
            if peer_sent[_key(e)] > 0:
                peer_sent[_key(e)] -= 1
            else:
                findings.append(
                    Finding(
                        kind=FindingKind.NOT_SENT,
                        where=f"peer {peer}",
                        message=f"item {e.item_id} v{e.item_version} received at {e.at} "
                        "is not logged as sent",
                    )
                )
    return findings
