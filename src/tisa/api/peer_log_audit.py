"""Audit one peer's log over HTTP: its checkpoint, its tree, and what it logged about us.

1. Fetch ``/log/checkpoint`` and every tile; the tiles must give the checkpoint root.
2. ``check_peer_checkpoint``: the peer's signature, every known witness cosignature,
   consistency with the checkpoint this node last accepted from the peer (the proof
   comes from the verified tiles).
3. Against what this node cosigned as the peer's witness: the same size with another
   root is a fork (the peer showed different histories to different witnesses); a
   smaller size is a rollback.
4. ``cross_check`` with the peer's mirrored entries. The checkpoint is remembered as
   the new last-seen only when every check held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from tisa.api.log_mirror import LogMirror
from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.audit import Finding, FindingKind, check_peer_checkpoint, cross_check
from tisa.ledger.checkpoint import Checkpoint, parse_checkpoint_text
from tisa.ledger.entries import LogEntry, parse_entry
from tisa.ledger.merkle import consistency_proof
from tisa.ledger.note import Verifier, parse_note
from tisa.ledger.proofs import verify_consistency
from tisa.ledger.witness import WitnessState
from tisa.store.sql_witness_store import SqlWitnessStore

__all__ = ["PeerAudit", "audit_peer"]


@dataclass(frozen=True, kw_only=True)
class PeerAudit:
    party: str
    size: int
    entries: int
    findings: tuple[Finding, ...]


def _finding(kind: FindingKind, party: str, message: str) -> Finding:
    return Finding(kind=kind, where=f"peer {party}", message=message)


def audit_peer(
    *,
    party: str,
    endpoint: str,
    origin: str,
    log_verifier: Verifier,
    own_party: str,
    own_entries: Sequence[LogEntry],
    store: SqlWitnessStore,
    witnesses: Sequence[Verifier] = (),
    witness_quorum: int = 0,
    client: httpx.Client,
    progress: Callable[[int], None] | None = None,
) -> PeerAudit:
    mirror = LogMirror(client, endpoint)
    try:
        note = mirror.checkpoint()
        cp = parse_checkpoint_text(parse_note(note).text)
        mirror.verify_tree(cp.size, cp.root_hash)
    except (httpx.HTTPError, InvalidInput, VerificationError) as exc:
        kind = FindingKind.INCONSISTENT if isinstance(exc, VerificationError) \
            else FindingKind.MALFORMED_CHECKPOINT
        return PeerAudit(party=party, size=0, entries=0,
                         findings=(_finding(kind, party, f"cannot mirror the log: {exc}"),))
    last = store.peer_checkpoint(party)
    last_cp = None if last is None else last[0]
    proof = []
    if last_cp is not None and 0 < last_cp.size <= cp.size:
        proof = consistency_proof(mirror.node_reader(), last_cp.size, cp.size)
    check = check_peer_checkpoint(
        note, peer=party, origin=origin, log_verifiers=[log_verifier], last_seen=last_cp,
        consistency_proof=proof, witness_verifiers=witnesses, witness_quorum=witness_quorum)
    findings = list(check.findings)
    findings.extend(_against_cosigned(party, cp, store.witness_state(origin), mirror))
    entries: list[LogEntry] = []
    try:
        raw = mirror.entries(progress)
    except (httpx.HTTPError, InvalidInput, VerificationError) as exc:
        findings.append(_finding(FindingKind.INCONSISTENT, party, f"entries: {exc}"))
        raw = []
    for i, data in enumerate(raw):
        try:
            entries.append(parse_entry(data))
        except InvalidInput as exc:
            findings.append(Finding(kind=FindingKind.MALFORMED_ENTRY,
                                    where=f"peer {party} entry {i}", message=exc.diagnostics()))
    findings.extend(cross_check(own_party=own_party, peer=party, own_entries=own_entries,
                                peer_entries=entries))
    if not findings:
        store.save_peer_checkpoint(party, cp, note)
    return PeerAudit(party=party, size=cp.size, entries=len(raw), findings=tuple(findings))


def _against_cosigned(party: str, cp: Checkpoint, cosigned: WitnessState | None,
                      mirror: LogMirror) -> list[Finding]:
    """What this node, as the peer's witness, cosigned must be a prefix of what it serves."""
    if cosigned is None or cosigned.size == 0:
        return []
    if cosigned.size > cp.size:
        return [_finding(FindingKind.ROLLBACK, party,
                         f"serves size {cp.size}, below the size {cosigned.size} this node "
                         "cosigned as its witness")]
    if cosigned.size == cp.size:
        if cosigned.root_hash != cp.root_hash:
            return [_finding(FindingKind.FORK, party,
                             f"serves a different root for size {cp.size} than the one this "
                             "node cosigned: it shows different histories to different parties")]
        return []
    proof = consistency_proof(mirror.node_reader(), cosigned.size, cp.size)
    try:
        verify_consistency(cosigned.size, cp.size, cosigned.root_hash, cp.root_hash, proof)
    except VerificationError:
        return [_finding(FindingKind.FORK, party,
                         f"its tree of size {cp.size} does not extend the checkpoint of size "
                         f"{cosigned.size} this node cosigned")]
    return []
