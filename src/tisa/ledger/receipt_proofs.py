"""Verifying a receipt: the receiver logged *this* delivery.

A receipt is the receiver's C2SP tlog-proof of the ``received`` entry it appended
to its own log (the "offline receipt"; no other signature comes with it). The
proof's ``extra`` line holds that entry's exact canonical bytes. ``extra`` is not
authenticated by itself:
its leaf hash is, by the inclusion proof up to a checkpoint signed with the
receiver's log key (``tisa.<party>/log``). So a verifier

1. parses ``extra`` as a canonical ``LogEntry`` and checks that it says what it
   must (kind ``received``, this envelope, this receiver, this originator, this
   item; optionally the party that delivered it);
2. checks, with ``verify_tlog_proof``, that ``leaf_hash(extra)`` is at the
   proof's index in a checkpoint of the receiver's log.

Pure: no I/O. Checkpoints that opened are kept in a small cache, so the receipts
of one batch (one checkpoint) cost one signature verification, not one each.
Every failure is a ``VerificationError`` whose ``detail`` says what did not
match; the detail is for the local log, never for the peer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import Checkpoint
from tisa.ledger.entries import EntryKind, LogEntry, parse_entry
from tisa.ledger.log_names import log_origin
from tisa.ledger.merkle import leaf_hash
from tisa.ledger.note import Verifier, decode_strict_base64
from tisa.ledger.tlog_proof import (
    TLOG_PROOF_HEADER,
    CheckpointCache,
    parse_tlog_proof,
    verify_tlog_proof,
)

__all__ = ["RECEIPT_CHECKPOINTS", "VerifiedReceiptProof", "claimed_envelope",
           "verify_receipt_proof"]

#: checkpoints of receivers' logs that opened; shared by every receipt this process checks
RECEIPT_CHECKPOINTS = CheckpointCache(64)

_MESSAGE = "receipt log proof did not verify"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, kw_only=True)
class VerifiedReceiptProof:
    """What a receipt's log proof established."""

    index: int
    entry: LogEntry
    checkpoint: Checkpoint


def verify_receipt_proof(
    proof: bytes | str,
    *,
    receiver: str,
    log_verifiers: Sequence[Verifier],
    envelope_sha256: str,
    originator: str,
    item_id: str,
    from_party: str | None = None,
    origin: str | None = None,
    checkpoint_cache: CheckpointCache | None = RECEIPT_CHECKPOINTS,
) -> VerifiedReceiptProof:
    """Check that ``proof`` proves the receiver logged receiving this envelope.

    ``log_verifiers`` are the receiver's log keys (``log_verifier(receiver, key)``);
    ``origin`` defaults to the receiver's log origin (``log_origin(receiver)``).
    ``from_party``, when given, is the party that must have delivered it (the
    originator, the hub, or an onward holder). Raises ``VerificationError``."""
    data = proof.encode("utf-8") if isinstance(proof, str) else proof
    if not data:
        raise VerificationError(_MESSAGE, detail="the receipt carries no log proof")
    try:
        parsed = parse_tlog_proof(data, check_note=False)  # the note is opened below
    except InvalidInput as exc:
        raise VerificationError(_MESSAGE, detail=f"log proof is malformed: {exc}") from exc
    if parsed.extra is None:
        raise VerificationError(_MESSAGE, detail="log proof carries no entry (no extra line)")
    try:
        entry = parse_entry(parsed.extra)
    except InvalidInput as exc:
        raise VerificationError(
            _MESSAGE, detail=f"log proof's extra is not a canonical log entry: {exc}") from exc
    expected: list[tuple[str, object, object]] = [
        ("kind", entry.kind, EntryKind.RECEIVED),
        ("envelope_sha256", entry.envelope_sha256, envelope_sha256),
        ("to_party", entry.to_party, receiver),
        ("originator", entry.originator, originator),
        ("item_id", entry.item_id, item_id),
    ]
    if from_party is not None:
        expected.append(("from_party", entry.from_party, from_party))
    for name, got, want in expected:
        if got != want:
            raise VerificationError(_MESSAGE, detail=(
                f"log entry {parsed.index} of {receiver}'s log has {name} {_show(got)}, "
                f"expected {_show(want)}"))
    log_name = log_origin(receiver) if origin is None else origin
    try:
        checkpoint = verify_tlog_proof(
            parsed, leaf_hash=leaf_hash(parsed.extra), log_verifiers=log_verifiers,
            origin=log_name, checkpoint_cache=checkpoint_cache)
    except (VerificationError, InvalidInput) as exc:
        reason = exc.detail if isinstance(exc, VerificationError) and exc.detail else str(exc)
        raise VerificationError(_MESSAGE, detail=(
            f"log entry {parsed.index} is not proven in {log_name}: {reason}")) from exc
    return VerifiedReceiptProof(index=parsed.index, entry=entry, checkpoint=checkpoint)


def claimed_envelope(proof: bytes | str) -> str:
    """The envelope digest a receipt's entry names, *unverified*: only to find what the
    receipt is about (which share, which rows to read) before ``verify_receipt_proof``
    checks it all, strictly. Reads just the header and ``extra`` lines (cheap: a node
    asks this of each receipt before verifying it). ``InvalidInput`` if it is not a
    tlog-proof whose ``extra`` entry names an envelope."""
    text = proof.decode("utf-8", "replace") if isinstance(proof, bytes) else proof
    lines = text.split("\n", 2)
    if len(lines) < 3 or lines[0] != TLOG_PROOF_HEADER:
        raise InvalidInput(f"receipt: not a tlog-proof (must start with {TLOG_PROOF_HEADER!r})")
    if not lines[1].startswith("extra "):
        raise InvalidInput("receipt: the tlog-proof carries no log entry (no extra line)")
    extra = decode_strict_base64(lines[1][6:], what="receipt: tlog-proof extra data")
    try:
        entry = json.loads(extra)
    except ValueError as exc:  # (UnicodeDecodeError is one)
        raise InvalidInput(f"receipt: its log entry is not JSON: {exc}") from exc
    digest = entry.get("envelope_sha256") if isinstance(entry, dict) else None
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise InvalidInput("receipt: its log entry names no envelope (envelope_sha256)")
    return digest


def _show(value: object) -> str:
    return repr(str(value)) if value is not None else "none"
