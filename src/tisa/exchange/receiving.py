"""What a node does with a verified peer request: one result per message.

Items for this node (direct, relayed, onward) are verified hop by hop, the route is
re-checked against this node's own agreements (defence in depth), the object is stored
in ``inbox`` re-marked (Art. 4) beside the originator's exact envelope, a ``received``
entry goes into the transparency log, and the receipt goes back: the C2SP tlog-proof of
that entry (the entry in its ``extra`` line, up to a checkpoint signed with this node's
log key). The same envelope delivered again gets the same receipt and is stored once.
Anything that fails is refused with its reason logged (and a ``refused`` log entry).
What the sender learns: a rule's refusal (``Denied``: route, consent, addressing) carries
its specific reason back; a verification failure (``VerificationError``: signature,
tampering) only a generic text (``envelope did not verify``, ``item refused``) — the
detail stays in this node's log.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tisa.crypto._encoding import JsonValue, load_json
from tisa.crypto.dsse import Envelope, parse_envelope
from tisa.crypto.items import ItemStatement, item_content
from tisa.crypto.signed import Verified, verify_statement
from tisa.crypto.statements import ConsentStatement, RelayStatement
from tisa.errors import Denied, InvalidInput, TisaError, VerificationError
from tisa.exchange import originating, relaying
from tisa.exchange.context import Exchange, log, log_item, logged_together
from tisa.exchange.messages import (
    ConsentMessage,
    ConsentRequestMessage,
    ItemMessage,
    ReceiptMessage,
    parse_message,
)
from tisa.exchange.protocol import ITEM, RECEIPT, Request
from tisa.exchange.remarking import received_parts
from tisa.exchange.routing import require_route
from tisa.ledger.entries import EntryKind, LogEntry, format_time
from tisa.ledger.receipt_proofs import claimed_envelope
from tisa.store.ports import NewObject, Viewer

Result = dict[str, JsonValue]


@dataclass(frozen=True, kw_only=True)
class Arrival:
    """An item for this node that passed every check, waiting to be stored."""

    index: int
    item: Verified[ItemStatement]
    envelope: str
    relay: str | None
    consent: str | None
    stix: dict[str, Any]
    version_us: int
    #: what goes into ``inbox``: the re-marking definition and the re-marked object
    parts: list[NewObject]


def handle(ex: Exchange, request: Request) -> list[Result]:
    results: list[Result | None] = [None] * len(request.messages)
    arrivals: list[Arrival] = []
    with logged_together():  # the batch's per-item lines (held, received) logged together
        with ex.store.unit():  # one transaction for the batch (items are stored after it)
            envelopes = _item_envelopes(request)
            digests = [e.digest() for e in envelopes.values()]
            ex.store.prefetch_receipts(digests)
            ex.store.prefetch_held(digests)
            ex.store.prefetch_sent(_receipt_digests(request))
            _handle_messages(ex, request, results, arrivals, envelopes)
        for index, result in _store_arrivals(ex, request.sender, arrivals):
            results[index] = result
    return [r if r is not None else {"outcome": "refused", "reason": "not handled"}
            for r in results]


def _item_envelopes(request: Request) -> dict[str, Envelope]:
    """The item envelopes of a request, parsed once (by their text)."""
    envelopes = {}
    for message in request.messages:
        if message.get("kind") == ITEM and isinstance(text := message.get("item"), str):
            with contextlib.suppress(InvalidInput):  # refused later, with its reason
                envelopes[text] = parse_envelope(text)
    return envelopes


def _receipt_digests(request: Request) -> list[str]:
    """The envelopes that the receipts a hub passes back name (read in one query)."""
    digests = []
    for message in request.messages:
        if message.get("kind") == RECEIPT and isinstance(text := message.get("receipt"), str):
            with contextlib.suppress(InvalidInput):  # refused later, with its reason
                digests.append(claimed_envelope(text))
    return digests


def _handle_messages(ex: Exchange, request: Request, results: list[Result | None],
                     arrivals: list[Arrival], envelopes: dict[str, Envelope]) -> None:
    for i, message in enumerate(request.messages):
        try:
            parsed = parse_message(message)
            if isinstance(parsed, ItemMessage):
                outcome = _item(ex, request.sender, i, parsed, envelopes)
                if isinstance(outcome, Arrival):
                    arrivals.append(outcome)
                    continue
                results[i] = outcome
            elif isinstance(parsed, ConsentRequestMessage):
                results[i] = originating.on_consent_request(ex, request.sender, parsed)
            elif isinstance(parsed, ConsentMessage):
                results[i] = relaying.on_consent(ex, request.sender, parsed)
            elif isinstance(parsed, ReceiptMessage):
                results[i] = originating.on_forwarded_receipt(ex, request.sender, parsed)
            else:
                results[i] = originating.on_dropped(ex, request.sender, parsed)
        except VerificationError as exc:
            results[i] = refuse(ex, request.sender, message, str(exc), exc.detail)
        except (InvalidInput, Denied, KeyError) as exc:
            text = exc.diagnostics() if isinstance(exc, TisaError) else f"missing {exc}"
            results[i] = refuse(ex, request.sender, message, text, text)


def refuse(ex: Exchange, sender: str, message: dict[str, JsonValue], reason: str,
           detail: str) -> Result:
    log.warning("%s refused a %s message from %s: %s", ex.party, message.get("kind"), sender,
                detail)
    item_id, originator = "unknown", sender
    try:
        if isinstance(text := message.get("item"), str):
            header = ItemStatement.from_bytes(parse_envelope(text).payload)
            item_id, originator = header.item_id, header.originator
    except (InvalidInput, TisaError):
        pass
    ex.record(EntryKind.REFUSED, item_id=item_id, version_us=0, from_party=sender,
              to_party=ex.party, originator=originator, reason=detail or reason)
    return {"outcome": "refused", "reason": reason}


def _item(ex: Exchange, sender: str, index: int, message: ItemMessage,
          envelopes: dict[str, Envelope]) -> Result | Arrival:
    text = message.item
    envelope = envelopes.get(text) or parse_envelope(text)
    verified = verify_statement(envelope, ex.trusted_keys, ItemStatement)
    item = verified.statement
    me = ex.party
    if me in item.path[1:-1]:
        return relaying.on_item_to_relay(ex, sender, verified, text)
    relay, consent = message.relay, message.consent
    if item.recipient == me:
        receipt = ex.store.receipt_for(verified.envelope_sha256)
        if receipt is not None:
            return {"outcome": "received", "receipt": receipt}
        if item.path == (item.originator, me) and sender == item.originator:
            require_route(ex, item, holder=None, path=item.path)
            relay = consent = None  # kept as evidence only when verified
        elif len(item.path) == 3 and item.path[1] == sender:
            consent = _check_relayed(ex, sender, verified, relay, consent)
            require_route(ex, item, holder=None, path=item.path)
        else:
            raise Denied(f"{item.item_id}: path {' -> '.join(item.path)} does not fit a "
                         f"delivery by {sender}")
        content = item_content(item, ex.seal_key)
    elif item.recipient == sender and sender != item.originator:
        receipt = ex.store.receipt_for(verified.envelope_sha256)
        if receipt is not None:
            return {"outcome": "received", "receipt": receipt}
        _check_onward(ex, sender, verified, consent)
        relay = None  # an onward share has no relay statement to keep
        require_route(ex, item, holder=sender, path=(sender, me))
        if item.sealed is not None:
            raise Denied(f"{item.item_id} is sealed to {item.recipient}; it cannot go onward")
        content = item_content(item)
    else:
        raise Denied(f"{item.item_id} names recipient {item.recipient}, not {me} "
                     f"(sent by {sender})")
    stix = content.get("stix")
    if not isinstance(stix, str):
        raise InvalidInput("item content must carry the STIX object as text ('stix')")
    data = load_json(stix, f"item {item.item_id}: content stix")  # InvalidInput if not JSON
    if not isinstance(data, dict) or data.get("id") != item.item_id:
        raise VerificationError("item refused", detail="content id is not the signed item_id")
    parts = received_parts(ex.network.network, me, item, data)
    return Arrival(index=index, item=verified, envelope=text,
                   relay=relay, consent=consent,
                   stix=data, version_us=parts[-1].version_us, parts=parts)


def _check_relayed(ex: Exchange, hub: str, item: Verified[ItemStatement],
                   relay_text: JsonValue | None, consent_text: JsonValue | None) -> str | None:
    """The relay statement and the consent it names verify; the consent (None when the
    item's own ``consent_to`` names this node) to keep as evidence."""
    st = item.statement
    if not isinstance(relay_text, str):
        raise Denied(f"{st.item_id}: relayed by {hub} without a relay statement")
    relay = verify_statement(parse_envelope(relay_text), {hub: ex.trusted_keys[hub]},
                             RelayStatement).statement
    if (relay.hub, relay.originator, relay.recipient, relay.envelope_sha256, relay.item_id) != (
        hub, st.originator, ex.party, item.envelope_sha256, st.item_id
    ):
        raise VerificationError("item refused", detail="relay statement does not match item")
    if relay.consent_sha256 is None:
        if ex.party not in (st.consent_to or ()):
            raise Denied(f"{st.item_id}: relayed by {hub} without any consent: {st.originator} "
                         f"neither approved this relay nor named {ex.party} in consent_to")
        return None
    if not isinstance(consent_text, str):
        raise Denied(f"{st.item_id}: the relay statement names a consent that is not carried")
    consent = verify_statement(parse_envelope(consent_text),
                               {st.originator: ex.trusted_keys[st.originator]},
                               ConsentStatement)
    c = consent.statement
    if not (c.approved and consent.envelope_sha256 == relay.consent_sha256
            and (c.holder, c.recipient, c.envelope_sha256) == (hub, ex.party,
                                                              item.envelope_sha256)):
        raise Denied(f"{st.item_id}: {st.originator}'s consent does not approve this relay "
                     f"(by {hub} to {ex.party}, of this envelope)")
    return consent_text


def _check_onward(ex: Exchange, holder: str, item: Verified[ItemStatement],
                  consent_text: JsonValue | None) -> None:
    """Third-party rule: the originator's consent names this holder, this node and this
    exact envelope — or its own ``consent_to`` names this node."""
    st = item.statement
    if consent_text is None:
        if ex.party not in (st.consent_to or ()):
            raise Denied(f"{holder} passes on {st.item_id} of {st.originator} without its "
                         "consent")
        return
    if not isinstance(consent_text, str):
        raise VerificationError("item refused", detail="consent is not envelope text")
    c = verify_statement(parse_envelope(consent_text),
                         {st.originator: ex.trusted_keys[st.originator]},
                         ConsentStatement).statement
    if not (c.approved and (c.holder, c.recipient, c.envelope_sha256) == (
            holder, ex.party, item.envelope_sha256)):
        raise Denied(f"{st.item_id}: {st.originator}'s consent does not approve this onward "
                     f"share (by {holder} to {ex.party}, of this envelope)")


def _store_arrivals(ex: Exchange, sender: str, arrivals: list[Arrival]
                    ) -> list[tuple[int, Result]]:
    if not arrivals:
        return []
    me = ex.party
    parts = [p for a in arrivals for p in a.parts]
    record = ex.taxii.store.ingest(collection_id=ex.taxii.by_title("inbox").id,
                                   owner=f"party:{sender}", parts=parts,
                                   status_id=_status_id(), viewer=Viewer.system())
    out: list[tuple[int, Result]] = []
    stored: list[Arrival] = []
    for n, arrival in enumerate(arrivals):
        entry = record.entries[2 * n + 1]
        if entry.state == "failure":
            out.append((arrival.index, refuse(ex, sender, {"kind": ITEM, "item": arrival.envelope},
                                              "a different object with this version is "
                                              "already stored", entry.message)))
        else:
            stored.append(arrival)
    if not stored:
        return out
    at = format_time(datetime.now(UTC))
    indexes = ex.events.record([LogEntry(
        kind=EntryKind.RECEIVED, at=at, item_id=a.item.statement.item_id,
        item_version=a.version_us, from_party=sender, to_party=me,
        originator=a.item.statement.originator, envelope_sha256=a.item.envelope_sha256,
    ) for a in stored], checkpoint=True)  # the checkpoint the receipts prove against
    receipts: dict[str, str] = {}
    rows = []
    # The receipt is the entry's tlog-proof: one checkpoint, signed with this node's log
    # key, for the whole batch (it commits to each exact entry; nothing else is signed).
    proofs = ex.events.receipt_proofs(indexes)
    for arrival, proof in zip(stored, proofs, strict=True):
        st = arrival.item.statement
        receipts[arrival.item.envelope_sha256] = proof.decode("utf-8")
        rows.append({"envelope_sha256": arrival.item.envelope_sha256,
                     "envelope": arrival.envelope, "relay": arrival.relay,
                     "consent": arrival.consent, "sender": sender,
                     "originator": st.originator, "item_id": st.item_id,
                     "version_us": arrival.version_us,
                     "receipt": receipts[arrival.item.envelope_sha256]})
    for digest in ex.store.record_received_many(rows):  # recorded first by a duplicate
        receipts[digest] = ex.store.receipt_for(digest) or receipts[digest]
    for arrival in stored:
        st = arrival.item.statement
        log_item(f"{me} received {{n}} items from {sender} (originator {st.originator})",
                 "%s received %s from %s (originator %s)", me, st.item_id, sender,
                 st.originator)
        out.append((arrival.index, {"outcome": "received",
                                    "receipt": receipts[arrival.item.envelope_sha256]}))
    return out


def _status_id() -> str:
    import uuid

    return str(uuid.uuid4())
