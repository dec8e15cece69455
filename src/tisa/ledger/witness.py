"""The pure decision of a C2SP tlog-witness ``add-checkpoint`` call (c2sp.org/tlog-witness).

Request body::

    old <size>\\n
    <base64 consistency proof hash>\\n      (0 to 63 lines)
    \\n
    <signed checkpoint note>

:func:`decide_add_checkpoint` checks it in the spec's order and returns a
:class:`WitnessDecision`; the HTTP layer maps :class:`WitnessOutcome` to a status
(the value in brackets) and sends :meth:`WitnessDecision.body`:

* ``MALFORMED`` [400] — unparsable body, or old size above the checkpoint size
* ``UNKNOWN_ORIGIN`` [404] — no log key is configured for the origin
* ``UNTRUSTED_SIGNATURE`` [403] — no signature from a configured log key verifies
* ``OLD_SIZE_MISMATCH`` [409, ``text/x.tlog.size``] — old size is not the size the
  witness last cosigned; the body is that size and a newline
* ``SAME_SIZE_DIFFERENT_ROOT`` [409] — a fork: same size as cosigned, other root
* ``BAD_PROOF`` [422] — the consistency proof does not verify (``evidence`` is
  set: the request is signed by the log and may be kept as proof of misbehaviour)
* ``COSIGNED`` [200] — body is the cosignature line(s)

On ``COSIGNED`` the caller must persist ``new_state`` atomically with a check
that the stored state is still ``previous_state`` (the spec's rollback race).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import Checkpoint, format_size, parse_checkpoint_text, parse_size
from tisa.ledger.cosignature import CosignatureV1Signer
from tisa.ledger.merkle import EMPTY_ROOT
from tisa.ledger.note import (
    Note,
    NoteSignature,
    Verifier,
    decode_strict_base64,
    open_note,
    parse_note,
)
from tisa.ledger.proofs import verify_consistency

__all__ = [
    "MAX_ADD_CHECKPOINT_BODY",
    "MAX_PROOF_LINES",
    "AddCheckpointRequest",
    "WitnessDecision",
    "WitnessOutcome",
    "WitnessState",
    "decide_add_checkpoint",
    "format_add_checkpoint_request",
    "parse_add_checkpoint_request",
    "parse_cosignature_response",
    "parse_size_response",
]

MAX_PROOF_LINES = 63
MAX_ADD_CHECKPOINT_BODY = 64 * 1024


class WitnessOutcome(StrEnum):
    COSIGNED = "cosigned"
    MALFORMED = "malformed"
    UNKNOWN_ORIGIN = "unknown-origin"
    UNTRUSTED_SIGNATURE = "untrusted-signature"
    OLD_SIZE_MISMATCH = "old-size-mismatch"
    SAME_SIZE_DIFFERENT_ROOT = "same-size-different-root"
    BAD_PROOF = "bad-proof"


@dataclass(frozen=True, kw_only=True)
class WitnessState:
    """The latest checkpoint a witness cosigned for one origin."""

    size: int
    root_hash: bytes


@dataclass(frozen=True, kw_only=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: bytes


def format_add_checkpoint_request(
    old_size: int, proof: Sequence[bytes], checkpoint_note: bytes
) -> bytes:
    lines = [f"old {format_size(old_size)}\n"]
    lines.extend(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
    return ("".join(lines) + "\n").encode() + checkpoint_note


def parse_add_checkpoint_request(body: bytes) -> AddCheckpointRequest:
    if len(body) > MAX_ADD_CHECKPOINT_BODY:
        raise InvalidInput(
            f"add-checkpoint body is {len(body)} bytes; the limit is {MAX_ADD_CHECKPOINT_BODY}"
        )
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise InvalidInput("add-checkpoint body has no blank line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput("add-checkpoint header lines must be ASCII") from exc
    first, proof_lines = lines[0], lines[1:]
    if not first.startswith("old "):
        raise InvalidInput("add-checkpoint body must start with 'old <size>'")
    old_size = parse_size(first[4:], what="old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise InvalidInput(
            f"add-checkpoint has {len(proof_lines)} proof lines; at most {MAX_PROOF_LINES}"
        )
    proof = []
    for i, line in enumerate(proof_lines):
        h = decode_strict_base64(line, what=f"consistency proof line {i + 1}")
        if len(h) != 32:
            raise InvalidInput(f"consistency proof line {i + 1} is not a 32-byte hash")
        proof.append(h)
    return AddCheckpointRequest(old_size=old_size, proof=tuple(proof), checkpoint_note=note)


@dataclass(frozen=True, kw_only=True)
class WitnessDecision:
    outcome: WitnessOutcome
    reason: str
    checkpoint: Checkpoint | None = None
    known_size: int | None = None
    cosignatures: tuple[NoteSignature, ...] = ()
    previous_state: WitnessState | None = None
    new_state: WitnessState | None = None
    evidence: bool = False

    def body(self) -> bytes:
        """The spec's response body for this outcome (empty where it defines none)."""
        if self.outcome is WitnessOutcome.COSIGNED:
            return "".join(s.line() for s in self.cosignatures).encode()
        if self.outcome is WitnessOutcome.OLD_SIZE_MISMATCH:
            return f"{self.known_size}\n".encode()
        return b""


def decide_add_checkpoint(
    body: bytes,
    *,
    log_verifiers: Mapping[str, Sequence[Verifier]],
    known_state: Callable[[str], WitnessState | None],
    cosigner: CosignatureV1Signer,
    timestamp: int,
) -> WitnessDecision:
    """Check an add-checkpoint request against the witness's state; cosign if it holds."""
    try:
        request = parse_add_checkpoint_request(body)
        note = parse_note(request.checkpoint_note)
        checkpoint = parse_checkpoint_text(note.text)
    except InvalidInput as exc:
        return WitnessDecision(outcome=WitnessOutcome.MALFORMED, reason=str(exc))
    verifiers = log_verifiers.get(checkpoint.origin)
    if not verifiers:
        return WitnessDecision(
            outcome=WitnessOutcome.UNKNOWN_ORIGIN,
            reason=f"no log key is known for origin {checkpoint.origin!r}",
            checkpoint=checkpoint,
        )
    try:
        open_note(note, verifiers)
    except VerificationError as exc:
        return WitnessDecision(
            outcome=WitnessOutcome.UNTRUSTED_SIGNATURE, reason=str(exc), checkpoint=checkpoint
        )
    return _decide_signed(request, note, checkpoint, known_state, cosigner, timestamp)


def _decide_signed(
    request: AddCheckpointRequest,
    note: Note,
    checkpoint: Checkpoint,
    known_state: Callable[[str], WitnessState | None],
    cosigner: CosignatureV1Signer,
    timestamp: int,
) -> WitnessDecision:
    old = request.old_size
    if old > checkpoint.size:
        return WitnessDecision(
            outcome=WitnessOutcome.MALFORMED,
            reason=f"old size {old} is larger than the checkpoint size {checkpoint.size}",
            checkpoint=checkpoint,
        )
    state = known_state(checkpoint.origin)
    known_size = 0 if state is None else state.size
    if old != known_size:
        return WitnessDecision(
            outcome=WitnessOutcome.OLD_SIZE_MISMATCH,
            reason=f"old size {old} is not the last cosigned size {known_size}",
            checkpoint=checkpoint,
            known_size=known_size,
            previous_state=state,
        )
    known_root = EMPTY_ROOT if state is None else state.root_hash
    if state is not None and old == checkpoint.size and known_root != checkpoint.root_hash:
        return WitnessDecision(
            outcome=WitnessOutcome.SAME_SIZE_DIFFERENT_ROOT,
            reason=f"checkpoint of size {old} has a different root than the one cosigned",
            checkpoint=checkpoint,
            known_size=known_size,
            previous_state=state,
            evidence=True,
        )
    try:
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            raise VerificationError("a tree of size 0 has the empty-string SHA-256 root")
        verify_consistency(old, checkpoint.size, known_root, checkpoint.root_hash, request.proof)
    except VerificationError as exc:
        return WitnessDecision(
            outcome=WitnessOutcome.BAD_PROOF,
            reason=str(exc),
            checkpoint=checkpoint,
            known_size=known_size,
            previous_state=state,
            evidence=True,
        )
    cosignature = cosigner.cosign(note.text, timestamp)
    return WitnessDecision(
        outcome=WitnessOutcome.COSIGNED,
        reason=f"cosigned {checkpoint.origin} at size {checkpoint.size}",
        checkpoint=checkpoint,
        known_size=known_size,
        cosignatures=(cosignature,),
        previous_state=state,
        new_state=WitnessState(size=checkpoint.size, root_hash=checkpoint.root_hash),
    )


def parse_size_response(body: bytes) -> int:
    """The body of a 409 ``text/x.tlog.size`` answer: a decimal and a newline."""
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise InvalidInput("a tlog size response ends with a newline")
    return parse_size(text[:-1], what="witness's known size")


def parse_cosignature_response(body: bytes, checkpoint_note: bytes) -> Note:
    """Append a witness's 200 answer to the checkpoint and parse the result as a note.

    Verify the outcome with :func:`~tisa.ledger.note.open_note` and the witness's
    :class:`~tisa.ledger.cosignature.CosignatureV1Verifier`.
    """
    if not body or not body.endswith(b"\n") or not body.startswith("\u2014".encode()):
        raise InvalidInput("a witness response is one or more note signature lines")
    return parse_note(checkpoint_note + body)
