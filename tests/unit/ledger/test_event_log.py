"""The in-memory EventLog: receipts verify offline; tampering is caught."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.errors import VerificationError
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.event_log import EventLog, MemoryEventLog
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.tlog_proof import parse_tlog_proof, verify_tlog_proof


def entry(n: int) -> LogEntry:
    return LogEntry(kind=EntryKind.RECEIVED, at="2019-11-25T10:00:00Z", item_id=f"item-{n}",
                    item_version=1, from_party="KOR", to_party="JPN", originator="KOR",
                    envelope_sha256=f"{n:064x}")


def test_receipt_proofs_verify_offline_with_only_the_log_key() -> None:
    signer = Ed25519Signer(name="jpn.tisa.example/log", private_key=Ed25519PrivateKey.generate())
    log: EventLog = MemoryEventLog(origin="jpn.tisa.example/log", signer=signer)
    assert log.latest_checkpoint() is None
    indexes = log.record([entry(i) for i in range(5)])
    assert indexes == [0, 1, 2, 3, 4]
    for index in indexes:
        proof = parse_tlog_proof(log.receipt_proof(index))
        verify_tlog_proof(proof, leaf_hash=entry(index).leaf_hash(),
                          log_verifiers=[signer.verifier], origin="jpn.tisa.example/log")
    with pytest.raises(VerificationError):
        verify_tlog_proof(parse_tlog_proof(log.receipt_proof(2)),
                          leaf_hash=entry(3).leaf_hash(), log_verifiers=[signer.verifier],
                          origin="jpn.tisa.example/log")
    # later entries get a newer checkpoint that still proves the old ones
    log.record([entry(9)])
    later = parse_tlog_proof(log.receipt_proof(5))
    verify_tlog_proof(later, leaf_hash=entry(9).leaf_hash(), log_verifiers=[signer.verifier],
                      origin="jpn.tisa.example/log")
    with pytest.raises(IndexError):
        log.receipt_proof(6)


def test_batch_receipt_proofs_share_one_checkpoint_and_carry_the_entries() -> None:
    signer = Ed25519Signer(name="jpn.tisa.example/log", private_key=Ed25519PrivateKey.generate())
    log = MemoryEventLog(origin="jpn.tisa.example/log", signer=signer)
    assert log.receipt_proofs([]) == []
    log.record([entry(i) for i in range(7)])
    proofs = [parse_tlog_proof(p) for p in log.receipt_proofs([6, 0, 3])]
    assert [p.index for p in proofs] == [6, 0, 3]
    assert [p.extra for p in proofs] == [entry(i).to_bytes() for i in (6, 0, 3)]
    assert len({p.checkpoint_note for p in proofs}) == 1
    for p in proofs:
        verify_tlog_proof(p, leaf_hash=entry(p.index).leaf_hash(),
                          log_verifiers=[signer.verifier], origin="jpn.tisa.example/log")
    with pytest.raises(IndexError):
        log.receipt_proofs([1, 7])
