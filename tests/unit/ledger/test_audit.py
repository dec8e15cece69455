"""Audit checks: the issue's attacks (tampering, rollback, forks, dropped entries)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.ledger.audit import FindingKind, audit_log, check_peer_checkpoint, cross_check
from tisa.ledger.checkpoint import Checkpoint, sign_checkpoint
from tisa.ledger.cosignature import CosignatureV1Signer
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.merkle import MerkleTree
from tisa.ledger.note import Ed25519Signer, Note

from .conftest import ORIGIN

SIGNER = Ed25519Signer(name=ORIGIN, private_key=Ed25519PrivateKey.from_private_bytes(bytes(32)))


def entry(i: int, kind: EntryKind = EntryKind.SENT, frm: str = "KR", to: str = "JP") -> LogEntry:
    return LogEntry(
        kind=kind,
        at=f"2026-11-29T07:{i % 60:02d}:00Z",
        item_id=f"item-{i}",
        item_version=1,
        from_party=frm,
        to_party=to,
        originator=frm,
        envelope_sha256=f"{i:064x}",
    )


def build_log(n: int, every: int = 4) -> tuple[list[bytes], list[bytes]]:
    entries = [entry(i).to_bytes() for i in range(n)]
    tree = MerkleTree()
    checkpoints = []
    for i, e in enumerate(entries):
        tree.append(e)
        if (i + 1) % every == 0 or i + 1 == n:
            cp = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root())
            checkpoints.append(sign_checkpoint(cp, [SIGNER]).to_bytes())
    return entries, checkpoints


def audit(entries: list[bytes], checkpoints: list[bytes]):  # type: ignore[no-untyped-def]
    return audit_log(entries, checkpoints, origin=ORIGIN, log_verifiers=[SIGNER.verifier])


def test_an_intact_log_passes() -> None:
    entries, checkpoints = build_log(21)
    report = audit(entries, checkpoints)
    assert report.ok, report.findings
    assert (report.entries, report.checkpoints) == (21, 6)


def test_a_rolled_back_store_is_caught() -> None:
    entries, checkpoints = build_log(21)
    report = audit(entries[:15], checkpoints)
    kinds = [f.kind for f in report.findings]
    assert kinds == [FindingKind.MISSING_ENTRIES] * 3  # sizes 16, 20 and 21


def test_a_checkpoint_that_does_not_verify_is_caught() -> None:
    entries, checkpoints = build_log(8)
    other = Ed25519Signer(name=ORIGIN, private_key=Ed25519PrivateKey.generate())
    cp = Checkpoint(origin=ORIGIN, size=8, root_hash=MerkleTree().root())
    bad = sign_checkpoint(cp, [other]).to_bytes()
    report = audit(entries, [*checkpoints, bad, b"garbage"])
    assert [f.kind for f in report.findings] == [
        FindingKind.BAD_SIGNATURE,
        FindingKind.MALFORMED_CHECKPOINT,
    ]


@settings(max_examples=150)
@given(st.data())
def test_any_changed_byte_in_any_stored_entry_is_caught(data: st.DataObject) -> None:
    entries, checkpoints = build_log(9)
    which = data.draw(st.integers(min_value=0, max_value=len(entries) - 1))
    raw = bytearray(entries[which])
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    entries[which] = bytes(raw)
    report = audit(entries, checkpoints)
    assert FindingKind.ROOT_MISMATCH in {f.kind for f in report.findings}


@settings(max_examples=150)
@given(st.data())
def test_any_changed_byte_in_a_stored_checkpoint_is_caught(data: st.DataObject) -> None:
    entries, checkpoints = build_log(9)
    which = data.draw(st.integers(min_value=0, max_value=len(checkpoints) - 1))
    raw = bytearray(checkpoints[which])
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    checkpoints[which] = bytes(raw)
    assert not audit(entries, checkpoints).ok


def signed(tree: MerkleTree, size: int, *, cosigner: CosignatureV1Signer | None = None) -> bytes:
    cp = Checkpoint(origin=ORIGIN, size=size, root_hash=tree.root(size))
    note = sign_checkpoint(cp, [SIGNER]).note
    if cosigner is not None:
        sig = cosigner.cosign(cp.to_text(), 1_764_400_000)
        note = Note(text=note.text, signatures=(*note.signatures, sig))
    return note.to_bytes()


def test_peer_checkpoint_checks() -> None:
    witness = CosignatureV1Signer(name="w", private_key=Ed25519PrivateKey.generate())
    tree = MerkleTree(entry(i).leaf_hash() for i in range(20))
    last = Checkpoint(origin=ORIGIN, size=12, root_hash=tree.root(12))
    common = {
        "peer": "JP",
        "origin": ORIGIN,
        "log_verifiers": [SIGNER.verifier],
        "witness_verifiers": [witness.verifier],
        "witness_quorum": 1,
    }
    good = check_peer_checkpoint(
        signed(tree, 20, cosigner=witness),
        last_seen=last,
        consistency_proof=tree.consistency_proof(12, 20),
        **common,  # type: ignore[arg-type]
    )
    assert good.ok
    assert good.checkpoint is not None
    assert good.checkpoint.size == 20

    def kinds(note: bytes, proof: list[bytes]) -> list[FindingKind]:
        check = check_peer_checkpoint(note, last_seen=last, consistency_proof=proof, **common)  # type: ignore[arg-type]
        return [f.kind for f in check.findings]

    assert kinds(signed(tree, 20), tree.consistency_proof(12, 20)) == [
        FindingKind.TOO_FEW_COSIGNATURES
    ]
    assert kinds(signed(tree, 20, cosigner=witness), tree.consistency_proof(11, 20)) == [
        FindingKind.INCONSISTENT
    ]
    assert kinds(signed(tree, 10, cosigner=witness), []) == [FindingKind.ROLLBACK]
    forked = MerkleTree(entry(i + 100).leaf_hash() for i in range(12))
    assert kinds(signed(forked, 12, cosigner=witness), []) == [FindingKind.FORK]
    assert kinds(b"nonsense", []) == [FindingKind.MALFORMED_CHECKPOINT]


def test_cross_check_catches_a_dropped_received_entry() -> None:
    mine = [entry(1), entry(2), entry(3, EntryKind.RECEIVED, frm="JP", to="KR")]
    theirs = [
        entry(1, EntryKind.RECEIVED),
        entry(3, EntryKind.SENT, frm="JP", to="KR"),
    ]  # entry 2 was received but the peer dropped it from its log
    findings = cross_check(own_party="KR", peer="JP", own_entries=mine, peer_entries=theirs)
    assert [(f.kind, "item-2" in f.message) for f in findings] == [(FindingKind.NOT_RECEIVED, True)]
    findings = cross_check(own_party="KR", peer="JP", own_entries=mine, peer_entries=theirs[:1])
    assert [f.kind for f in findings] == [FindingKind.NOT_RECEIVED, FindingKind.NOT_SENT]
    assert cross_check(own_party="KR", peer="JP", own_entries=mine[:1], peer_entries=theirs) == []


@pytest.mark.parametrize("n", [0, 1, 256, 257])
def test_sizes_at_the_edges(n: int) -> None:
    entries, checkpoints = build_log(n, every=64)
    empty = sign_checkpoint(
        Checkpoint(origin=ORIGIN, size=0, root_hash=MerkleTree().root()), [SIGNER]
    ).to_bytes()
    report = audit(entries, [empty, *checkpoints])
    assert report.ok, report.findings
    assert report.entries == n
