"""A receipt's log proof: the receiver's log holds a ``received`` entry for exactly this
delivery, in a checkpoint signed with the receiver's log key. Real logs, real keys."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer, Ed25519Verifier
from tisa.ledger.receipt_proofs import claimed_envelope, verify_receipt_proof
from tisa.ledger.tlog_proof import CheckpointCache, TlogProof, parse_tlog_proof

KEY = Ed25519PrivateKey.generate()


def received(n: int, *, kind: EntryKind = EntryKind.RECEIVED, to: str = "JPN",
             originator: str = "KOR", sender: str = "KOR") -> LogEntry:
    return LogEntry(kind=kind, at="2019-11-25T10:00:00Z", item_id=f"indicator--{n}",
                    item_version=1_574_676_000_000_000, from_party=sender, to_party=to,
                    originator=originator, envelope_sha256=f"{n:064x}")


def jpn_log(entries: list[LogEntry], key: Ed25519PrivateKey = KEY,
            origin: str | None = None) -> MemoryEventLog:
    name = origin or log_origin("JPN")
    log = MemoryEventLog(origin=name, signer=Ed25519Signer(name=name, private_key=key))
    log.record(entries)
    return log


def check(proof: bytes | str, n: int, *, key: Ed25519PrivateKey = KEY,
          cache: CheckpointCache | None = None, **expect: str) -> object:
    want: dict[str, str] = {"receiver": "JPN", "envelope_sha256": f"{n:064x}",
                            "originator": "KOR", "item_id": f"indicator--{n}", **expect}
    return verify_receipt_proof(proof, log_verifiers=[log_verifier("JPN", key.public_key())],
                                checkpoint_cache=cache, **want)  # type: ignore[arg-type]


def detail(proof: bytes, n: int, **kw: object) -> str:
    with pytest.raises(VerificationError) as caught:
        check(proof, n, **kw)  # type: ignore[arg-type]
    assert str(caught.value) == "receipt log proof did not verify"  # the same for every failure
    return caught.value.detail


def test_a_good_proof_verifies_and_says_what_was_logged() -> None:
    log = jpn_log([received(n) for n in range(5)])
    proofs = log.receipt_proofs([0, 1, 2, 3, 4])
    for n, proof in enumerate(proofs):
        assert parse_tlog_proof(proof).extra == received(n).to_bytes()
        result = check(proof.decode(), n, from_party="KOR")  # as the receipt carries it: text
        assert result.index == n and result.entry == received(n)  # type: ignore[attr-defined]
        assert result.checkpoint.size == 5  # type: ignore[attr-defined]
    assert log.receipt_proof(3) == proofs[3]  # the one-element form of the batch call


def test_wrong_key_is_refused() -> None:
    proof = jpn_log([received(0)]).receipt_proof(0)
    assert "no signature from a known key" in detail(proof, 0, key=Ed25519PrivateKey.generate())


def test_wrong_origin_is_refused() -> None:
    """JPN's key, but the checkpoint is of another log (USA's origin)."""
    proof = jpn_log([received(0)], origin=log_origin("USA")).receipt_proof(0)
    text = detail(proof, 0)
    assert "tisa.usa/log" in text and "tisa.jpn/log" in text


def test_tampered_extra_is_refused() -> None:
    """A well-formed entry in extra that is not the logged one: its leaf is not proven."""
    log = jpn_log([received(0)])
    parsed = parse_tlog_proof(log.receipt_proof(0))
    forged = dataclasses.replace(received(0), at="2019-11-26T10:00:00Z")
    proof = TlogProof(index=0, proof=parsed.proof, checkpoint_note=parsed.checkpoint_note,
                      extra=forged.to_bytes()).to_bytes()
    assert "is not proven in tisa.jpn/log" in detail(proof, 0)


def test_extra_that_is_not_a_canonical_entry_is_refused() -> None:
    parsed = parse_tlog_proof(jpn_log([received(0)]).receipt_proof(0))
    spaced = received(0).to_bytes().replace(b",", b", ")
    proof = TlogProof(index=0, proof=parsed.proof, checkpoint_note=parsed.checkpoint_note,
                      extra=spaced).to_bytes()
    assert "not a canonical log entry" in detail(proof, 0)


def test_missing_extra_is_refused() -> None:
    parsed = parse_tlog_proof(jpn_log([received(0)]).receipt_proof(0))
    proof = TlogProof(index=0, proof=parsed.proof,
                      checkpoint_note=parsed.checkpoint_note).to_bytes()
    assert detail(proof, 0) == "log proof carries no entry (no extra line)"


def test_malformed_proof_is_refused() -> None:
    assert "malformed" in detail(b"not a tlog-proof", 0)


@pytest.mark.parametrize(("entry", "expect", "field"), [
    (received(0, to="USA"), {}, "to_party"),                    # another receiver's entry
    (received(1), {}, "envelope_sha256"),                       # another envelope
    (received(0, kind=EntryKind.SENT), {}, "kind"),             # not a receipt of it
    (received(0, originator="USA"), {}, "originator"),
    (received(0), {"item_id": "indicator--9"}, "item_id"),
    (received(0, sender="USA"), {"from_party": "KOR"}, "from_party"),
])
def test_an_entry_for_something_else_is_refused(entry: LogEntry, expect: dict[str, str],
                                                field: str) -> None:
    proof = jpn_log([entry]).receipt_proof(0)
    text = detail(proof, 0, **expect)
    assert text.startswith(f"log entry 0 of JPN's log has {field} "), text


def test_a_proof_moved_to_another_index_is_refused() -> None:
    log = jpn_log([received(n) for n in range(6)])
    proof = log.receipt_proof(2)
    assert "is not proven" in detail(proof.replace(b"index 2\n", b"index 3\n"), 2)
    # entry 2's bytes with entry 3's inclusion path
    other = parse_tlog_proof(log.receipt_proof(3))
    moved = TlogProof(index=3, proof=other.proof, checkpoint_note=other.checkpoint_note,
                      extra=received(2).to_bytes()).to_bytes()
    assert "is not proven" in detail(moved, 2)


@dataclass(eq=False)
class CountingVerifier:
    """The ``Verifier`` port, counting the signatures it checks."""

    inner: Ed25519Verifier
    calls: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def key_id(self) -> bytes:
        return self.inner.key_id

    def verify(self, text: bytes, signature: bytes) -> bool:
        self.calls.append(text)
        return self.inner.verify(text, signature)


def test_receipts_of_one_checkpoint_cost_one_signature_check() -> None:
    log = jpn_log([received(n) for n in range(200)])
    proofs = log.receipt_proofs(list(range(200)))
    assert len({parse_tlog_proof(p).checkpoint_note for p in proofs}) == 1
    counting = CountingVerifier(log_verifier("JPN", KEY.public_key()))
    cache = CheckpointCache(4)
    for n, proof in enumerate(proofs):
        verify_receipt_proof(proof, receiver="JPN", log_verifiers=[counting],
                             envelope_sha256=f"{n:064x}", originator="KOR",
                             item_id=f"indicator--{n}", checkpoint_cache=cache)
    assert len(counting.calls) == 1
    # a later batch, a new checkpoint: one more check
    log.record([received(200)])
    verify_receipt_proof(log.receipt_proof(200), receiver="JPN", log_verifiers=[counting],
                         envelope_sha256=f"{200:064x}", originator="KOR",
                         item_id="indicator--200", checkpoint_cache=cache)
    assert len(counting.calls) == 2


def test_only_checkpoints_that_opened_are_cached() -> None:
    log = jpn_log([received(0), received(1)])
    proofs = log.receipt_proofs([0, 1])
    cache = CheckpointCache(4)
    wrong = CountingVerifier(log_verifier("JPN", Ed25519PrivateKey.generate().public_key()))
    for _ in range(2):
        with pytest.raises(VerificationError):
            verify_receipt_proof(proofs[0], receiver="JPN", log_verifiers=[wrong],
                                 envelope_sha256=f"{0:064x}", originator="KOR",
                                 item_id="indicator--0", checkpoint_cache=cache)
    assert len(cache) == 0
    # a note opened under the right key is not taken as opened under another key
    check(proofs[0], 0, cache=cache)
    assert len(cache) == 1
    assert "no signature from a known key" in detail(proofs[1], 1, key=Ed25519PrivateKey.generate(),
                                       cache=cache)
    # an entry that does not match is refused before (and regardless of) the checkpoint
    assert "envelope_sha256" in detail(proofs[1], 0, cache=cache)


def test_the_cache_is_bounded_least_recently_used_out() -> None:
    cache = CheckpointCache(2)
    log = jpn_log([])
    verifier = CountingVerifier(log_verifier("JPN", KEY.public_key()))
    notes = []
    for n in range(3):
        log.record([received(n)])
        notes.append(parse_tlog_proof(log.receipt_proof(n)).checkpoint_note)
    for note in notes:
        cache.open(note, [verifier], origin=log_origin("JPN"))
    assert len(cache) == 2 and len(verifier.calls) == 3
    cache.open(notes[0], [verifier], origin=log_origin("JPN"))  # was evicted
    assert len(verifier.calls) == 4
    cache.open(notes[2], [verifier], origin=log_origin("JPN"))  # still there
    assert len(verifier.calls) == 4


def test_the_extra_line_is_base64_of_the_canonical_entry() -> None:
    proof = jpn_log([received(7)]).receipt_proof(0)
    line = proof.split(b"\n")[1]
    assert line == b"extra " + base64.b64encode(received(7).to_bytes())


def test_a_tampered_checkpoint_is_refused() -> None:
    proof = jpn_log([received(0), received(1)]).receipt_proof(0)
    head, sep, note = proof.partition(b"\n\n")
    lines = note.split(b"\n")
    lines[1] = b"3"  # the size line: the log's signature no longer covers the text
    assert "does not verify" in detail(head + sep + b"\n".join(lines), 0)


def test_no_proof_at_all_is_refused() -> None:
    assert detail(b"", 0) == "the receipt carries no log proof"


def test_claimed_envelope_reads_what_a_receipt_is_about_without_verifying() -> None:
    log = jpn_log([received(n) for n in range(3)])
    proof = log.receipt_proof(2)
    assert claimed_envelope(proof) == claimed_envelope(proof.decode()) == f"{2:064x}"
    forged = dataclasses.replace(parse_tlog_proof(proof), extra=received(7).to_bytes())
    assert claimed_envelope(forged.to_bytes()) == f"{7:064x}"  # a claim, not a proof:
    assert "is not proven" in detail(forged.to_bytes(), 7)  # verifying it still fails


@pytest.mark.parametrize(("text", "why"), [
    ("", "not a tlog-proof"),
    ('{"payloadType": "application/vnd.tisa.receipt+json"}', "not a tlog-proof"),
    ("c2sp.org/tlog-proof@v1\nindex 0\n\nnote", "no extra line"),
    ("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nnote", "not valid base64"),
    ("c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(b"[1]").decode() + "\n", "names no"),
    ("c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(b"\xff").decode() + "\n", "not JSON"),
    ("c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(b'{"envelope_sha256": "AB"}').decode()
     + "\n", "names no envelope"),
])
def test_claimed_envelope_of_no_receipt_is_invalid_input(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        claimed_envelope(text)
