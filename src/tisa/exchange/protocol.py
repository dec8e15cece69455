"""The peer protocol's envelope rules: build and sign a request, check one that arrives
(signature by a known peer, addressed to this node, fresh, never seen before), sign the
reply and check the reply that comes back. Nothing here touches HTTP.

Every check failure is one ``VerificationError("request did not verify")`` whose
``detail`` (for the local log only) says what failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tisa.crypto._encoding import JsonValue
from tisa.crypto.batches import BatchReplyStatement, BatchStatement
from tisa.crypto.dsse import Envelope, parse_envelope
from tisa.crypto.signed import sign_statement, verify_statement
from tisa.errors import InvalidInput, VerificationError
from tisa.exchange.context import Exchange, now_text
from tisa.store.sql import now_us

OPAQUE = "request did not verify"

# Message kinds (``kind`` of each message in a batch).
ITEM = "item"  # an item envelope (+ relay statement and consent, when relayed or onward)
CONSENT_REQUEST = "consent-request"  # hub -> originator: may I release it?
CONSENT = "consent"  # originator -> hub: the signed answer
RECEIPT = "receipt"  # hub -> originator: the final recipient's receipt (tlog-proof)
DROPPED = "dropped"  # hub -> originator: the relay will not happen, and why
KINDS = frozenset({ITEM, CONSENT_REQUEST, CONSENT, RECEIPT, DROPPED})


@dataclass(frozen=True, kw_only=True)
class Request:
    sender: str
    messages: tuple[dict[str, JsonValue], ...]
    digest: str


def sign_request(ex: Exchange, peer: str, messages: Sequence[dict[str, JsonValue]]
                 ) -> tuple[bytes, str]:
    """The request body (DSSE JSON) and its digest."""
    batch = BatchStatement(sender=ex.party, receiver=peer, sent_at=now_text(),
                           nonce=secrets.token_hex(16), messages=tuple(messages))
    envelope = sign_statement(batch, ex.signing_key)
    return envelope.to_json(), envelope.digest()


def parse_request(body: bytes) -> Envelope:
    """Malformed bodies raise ``InvalidInput`` (a 400, nothing changed)."""
    return parse_envelope(body)


def verify_request(ex: Exchange, envelope: Envelope) -> Request:
    """Signed by a peer in the network, addressed to me, fresh, and never seen before."""
    peer_keys = {code: p.public_key for code, p in ex.peers.items()}
    verified = verify_statement(envelope, peer_keys, BatchStatement)
    batch = verified.statement
    if batch.receiver != ex.party:
        raise VerificationError(OPAQUE, detail=f"batch from {batch.sender} is addressed to "
                                f"{batch.receiver}, not {ex.party}")
    skew = abs(_age_seconds(batch.sent_at))
    window = ex.settings.freshness_seconds
    if skew > window:
        raise VerificationError(OPAQUE, detail=f"batch from {batch.sender} sent at "
                                f"{batch.sent_at}: outside the {window}s freshness window")
    for i, message in enumerate(batch.messages):  # malformed: refused, nothing recorded
        if message.get("kind") not in KINDS:
            raise InvalidInput(f"message {i}: kind must be one of {', '.join(sorted(KINDS))}")
    forget = now_us() - 2 * window * 1_000_000
    if not ex.store.first_sight(verified.envelope_sha256, forget_before_us=forget):
        raise VerificationError(OPAQUE, detail=f"batch {verified.envelope_sha256} from "
                                f"{batch.sender} was seen before: a replay")
    return Request(sender=batch.sender, messages=batch.messages,
                   digest=verified.envelope_sha256)


def sign_reply(ex: Exchange, request: Request, results: Sequence[dict[str, JsonValue]]
               ) -> bytes:
    reply = BatchReplyStatement(sender=ex.party, receiver=request.sender, sent_at=now_text(),
                                in_reply_to=request.digest, results=tuple(results))
    return sign_statement(reply, ex.signing_key).to_json()


def verify_reply(ex: Exchange, peer: str, body: bytes, request_digest: str, count: int
                 ) -> tuple[dict[str, JsonValue], ...]:
    """The peer's signed answer to exactly this request, one result per message."""
    try:
        envelope = parse_envelope(body)
    except InvalidInput as exc:
        raise VerificationError(OPAQUE, detail=f"reply from {peer} is malformed: {exc}"
                                ) from None
    key = ex.peers[peer].public_key
    reply = verify_statement(envelope, {peer: key}, BatchReplyStatement).statement
    if reply.receiver != ex.party or reply.in_reply_to != request_digest:
        raise VerificationError(OPAQUE, detail=f"reply from {peer} answers another request")
    if len(reply.results) != count:
        raise VerificationError(OPAQUE, detail=f"reply from {peer} has {len(reply.results)} "
                                f"results for {count} messages")
    return reply.results


def _age_seconds(timestamp: str) -> float:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - moment).total_seconds()
