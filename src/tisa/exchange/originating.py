"""The originator's part: sign each pending share into an item envelope (sealed to the
final recipient when the relay's hub must not read), and follow it to its end — a
receipt (success), a hold awaiting consent (pending), or a refusal or drop (failure)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from functools import lru_cache, partial
from types import MappingProxyType
from typing import Any

from tisa.crypto._encoding import JsonValue
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement, new_item_statement
from tisa.crypto.signed import sign_statement
from tisa.errors import Denied, InvalidInput, TisaError, VerificationError
from tisa.exchange.context import Exchange, iso_us, log, log_item, logged_together, now_text
from tisa.exchange.messages import (
    ConsentRequestMessage,
    DroppedMessage,
    ReceiptMessage,
    bounded_reason,
)
from tisa.exchange.protocol import CONSENT_REQUEST, ITEM
from tisa.exchange.sizing import FORWARD_ALLOWANCE, fits
from tisa.ledger.entries import EntryKind
from tisa.ledger.log_names import log_verifier
from tisa.ledger.receipt_proofs import claimed_envelope, verify_receipt_proof
from tisa.model.item_marking import item_marking
from tisa.store.exchange_sql import NotSent, OutboxItem, SentDraft
from tisa.store.sql import now_us

Result = dict[str, JsonValue]


def drain_outbox(ex: Exchange) -> int:
    """Sign up to a batch of pending shares into queued peer messages (one transaction);
    how many outbox rows were settled. The signed items are logged together (a lone item
    in its own INFO line, as the live demo shows each hop)."""
    with logged_together():
        return ex.store.drain_outbox(ex.settings.batch_size, partial(build_item, ex))


def build_item(ex: Exchange, item: OutboxItem) -> SentDraft | NotSent:
    if item.object_type == "marking-definition":
        return NotSent(state="companion", message="travels inside the signed header of the "
                       "items that reference it; awaiting their delivery")
    try:
        data = json.loads(item.body) if item.data is None else item.data
        definitions = {k: _definition(v) for k, v in item.definitions.items()}
        marking = item_marking(data, definitions, ex.network.resolve_level)
        if marking.originator != ex.party:
            return onward_item(ex, item, marking.originator)
        path = _route_path(item.route)
        next_hop = path[1]
        if next_hop not in ex.peers:
            return NotSent(state="failure", message=f"not sent: {next_hop} has no endpoint and "
                           "key in this node's network file")
        seal_to = None
        if len(path) == 3 and _hub_must_not_read(ex, path):
            peer = ex.peers.get(item.recipient)
            if peer is None or peer.seal_key is None:
                return NotSent(state="failure", message=f"not sent: the relay's hub may not "
                               f"read it and {item.recipient} has no seal_key")
            seal_to = peer.seal_key
        statement = new_item_statement(
            originator=ex.party, recipient=item.recipient, path=path, item_id=item.object_id,
            item_version=str(data.get("modified") or data.get("created") or item.version_us),
            level=marking.level, topics=tuple(sorted(marking.topics)), created=now_text(),
            content={"stix": item.body},
            rel_to=None if marking.releasable_to is None else tuple(marking.releasable_to),
            consent_to=tuple(marking.consent_to) or None, seal_to=seal_to,
        )
    except (TisaError, ValueError, KeyError, IndexError) as exc:
        return NotSent(state="failure", message=f"not sent: {exc}")
    envelope = sign_statement(statement, ex.signing_key)
    text = envelope.to_json().decode("utf-8")
    message = json.dumps({"kind": ITEM, "item": text})
    limit = ex.settings.max_request_bytes
    fit, size = fits([message], limit, allowance=FORWARD_ALLOWANCE)
    if not fit:
        return NotSent(state="failure", message=(
            f"not sent: too large to travel; signed and batched it would be about {size} "
            f"bytes, over the {limit}-byte limit of a peer request (max_content_length, "
            f"assumed the same at {next_hop}); an object travels at about 1.8 times its "
            "size"))
    digest = envelope.digest()
    _originators.note(digest, ex.party)
    ex.record(EntryKind.SENT, item_id=item.object_id, version_us=item.version_us,
              from_party=ex.party, to_party=next_hop, originator=ex.party,
              envelope_sha256=digest)
    log_item(f"{ex.party} signed {{n}} items; sending them to {next_hop}",
             "%s signed %s for %s%s; sending to %s", ex.party, item.object_id, item.recipient,
             " (sealed to it)" if seal_to is not None else "", next_hop)
    return SentDraft(envelope=text, envelope_sha256=digest, next_hop=next_hop,
                     message=message)


@lru_cache(maxsize=256)
def _definition(text: str) -> Mapping[str, Any]:
    """A marking-definition's stored JSON, parsed (the items of a batch mostly share a
    few definitions; the result is shared, so read-only; failures are not kept)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a marking-definition must be a JSON object")
    return MappingProxyType(value)


@lru_cache(maxsize=256)
def _route_path(route: str) -> tuple[str, ...]:
    """The path of a share's stored route decision (JSON text)."""
    return tuple(json.loads(route)["path"])


def onward_item(ex: Exchange, item: OutboxItem, originator: str) -> SentDraft | NotSent:
    """Onward sharing (third-party rule): pass on the originator's exact envelope, with its
    signed consent — asked for now, unless its ``consent_to`` names the recipient. Only
    the item's first recipient shares it onward (never further), and each onward share is
    its own row (``ref``): one envelope may go to several third parties."""
    copies = [r for r in ex.store.received_envelopes(item.object_id, item.version_us)
              if r["originator"] == originator]
    if not copies:
        return NotSent(state="failure", message="not sent: this node holds no signed "
                       f"envelope of {item.object_id} from {originator}")
    if item.recipient not in ex.peers or originator not in ex.peers:
        return NotSent(state="failure", message=f"not sent: {item.recipient} or {originator} "
                       "has no endpoint and key in this node's network file")
    parsed = [(r, ItemStatement.from_bytes(parse_envelope(str(r["envelope"])).payload))
              for r in copies]
    mine = [(r, st) for r, st in parsed if st.recipient == ex.party]
    if not mine:
        return NotSent(state="failure", message=f"not sent: {ex.party} received "
                       f"{item.object_id} from {copies[0]['sender']}, which shared "
                       f"{originator}'s item onward; an item goes onward only from its first "
                       "recipient, never further")
    received, statement = mine[0]
    if statement.sealed is not None:
        return NotSent(state="failure", message=f"not sent: {originator} sealed "
                       f"{item.object_id} to {ex.party}; a sealed item cannot go onward")
    text = str(received["envelope"])
    digest = str(received["envelope_sha256"])
    ref = f"{digest}:{item.outbox_id}"
    _originators.note(digest, statement.originator)
    if item.recipient in (statement.consent_to or ()):
        return SentDraft(envelope=text, envelope_sha256=digest, next_hop=item.recipient,
                         message=json.dumps({"kind": ITEM, "item": text}), ref=ref)
    request_id = str(uuid.uuid4())
    now = now_us()
    expires = now + ex.settings.consent_ttl_seconds * 1_000_000
    body = {"kind": CONSENT_REQUEST, "request_id": request_id, "envelope_sha256": digest,
            "item_id": statement.item_id, "item_version": statement.item_version,
            "recipient": item.recipient, "requested_at": iso_us(now), "expires_at": iso_us(expires)}
    held = {"envelope_sha256": digest, "envelope": text, "originator": originator,
            "recipient": item.recipient, "item_id": statement.item_id,
            "item_version": statement.item_version, "state": "awaiting",
            "request_id": request_id, "consent": None, "expires_us": expires}
    ex.record(EntryKind.CONSENT_REQUESTED, item_id=statement.item_id, version_us=item.version_us,
              from_party=ex.party, to_party=originator, originator=originator,
              envelope_sha256=digest)
    return SentDraft(envelope=text, envelope_sha256=digest, next_hop=item.recipient,
                     message=json.dumps(body), message_peer=originator,
                     message_kind=CONSENT_REQUEST, held=held, ref=ref)



def _hub_must_not_read(ex: Exchange, path: tuple[str, ...]) -> bool:
    for agreement in ex.network.network.relays_with(path[0], path[-1]):
        if agreement.hub == path[1] and not agreement.hub_reads:
            return True
    return False


def on_item_result(ex: Exchange, digest: str, result: dict[str, JsonValue]) -> None:
    """The next hop answered an item this node originated or shares onward (``digest``:
    the share's ref, see ``exchange_tables``)."""
    sent = ex.store.sent(digest)
    if sent is None:
        return
    outcome = result.get("outcome")
    if outcome == "received":
        _accept_receipt(ex, sent, result.get("receipt"))
    elif outcome == "held":
        ex.store.finish_share(digest, state="pending",
                              message=str(result.get("detail", "held for relay")))
    else:
        ex.store.finish_share(digest, state="failure", message=f"refused by "
                              f"{sent['next_hop']}: {peer_reason(result.get('reason'))}")


def _accept_receipt(ex: Exchange, sent: dict[str, object], receipt: object) -> bool:
    """The receipt is the recipient's tlog-proof of its ``received`` entry: that entry
    names this envelope, the recipient, the originator, the item and the party that
    delivered it, and is included in a checkpoint signed with the recipient's log key."""
    recipient, digest = str(sent["recipient"]), str(sent["envelope_sha256"])
    try:
        if not isinstance(receipt, str):
            raise VerificationError(detail="no receipt")
        hop = str(sent["next_hop"])  # the recipient, or the hub that delivered it
        proven = verify_receipt_proof(
            receipt, receiver=recipient,
            log_verifiers=[log_verifier(recipient, ex.trusted_keys[recipient])],
            envelope_sha256=digest, originator=_originator(sent),
            item_id=str(sent["item_id"]), from_party=ex.party if hop == recipient else hop)
    except (TisaError, KeyError) as exc:
        detail = getattr(exc, "detail", "") or str(exc)
        log.warning("%s: receipt for %s did not verify: %s", ex.party, digest, detail)
        # The same envelope always gets the same receipt: no retry can prove delivery.
        ex.store.finish_share(str(sent["ref"]), state="failure", message=(
            f"not proven delivered: the receipt from {recipient} did not verify ({detail})"))
        return False
    entry = proven.entry
    log_item(f"{ex.party}: signed receipts from {recipient} verified for {{n}} items",
             "%s: signed receipt from %s for %s verified", ex.party, recipient, entry.item_id)
    ex.store.finish_share(str(sent["ref"]), state="success", receipt=receipt, message=(
        f"delivered to {recipient}; signed receipt received_at {entry.at}: a verified "
        f"tlog-proof of its log entry {proven.index}, in a checkpoint signed by {recipient}"))
    return True


def _originator(sent: dict[str, object]) -> str:
    """Whose item was sent: this node's own, or (onward sharing) the originator whose
    signed envelope this node passed on. Read from the stored envelope's payload, unless
    this process noted it when it built the share."""
    known = _originators.get(str(sent["envelope_sha256"]))
    if known is not None:
        return known
    return str(json.loads(parse_envelope(str(sent["envelope"])).payload)["originator"])


class _Originators:
    """The originator of recently built shares' envelopes, by envelope digest (the digest
    covers the signed payload, which names the originator: a pure function, kept for the
    receipts that come back). Bounded; shared by the worker's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._by_digest: dict[str, str] = {}
        self._lock = threading.Lock()

    def note(self, digest: str, originator: str) -> None:
        with self._lock:
            self._by_digest[digest] = originator
            if len(self._by_digest) > self._size:
                del self._by_digest[next(iter(self._by_digest))]  # the oldest

    def get(self, digest: str) -> str | None:
        return self._by_digest.get(digest)


_originators = _Originators(8192)


def on_consent_request(ex: Exchange, hub: str, message: ConsentRequestMessage) -> Result:
    """A hub asks to relay an item (it is the next hop), or a receiver asks to share it
    onward (it is the final recipient, asking for someone else)."""
    digest, recipient, request_id = message.envelope_sha256, message.recipient, message.request_id
    sent = ex.store.sent(digest)
    relay = sent is not None and sent["next_hop"] == hub and sent["recipient"] == recipient
    onward = sent is not None and sent["recipient"] == hub and recipient not in (hub, ex.party)
    if sent is None or not (relay or onward):
        raise Denied(f"{hub} asks {ex.party}'s consent for an item {ex.party} did not send "
                     f"to it (envelope {digest}); {ex.party} answers the hub it relayed the "
                     "item through, or the recipient it sent the item to, only")
    where = f"consent request {request_id}"
    if message.item_id != sent["item_id"]:
        raise InvalidInput(f"{where}: item_id {message.item_id} is not the item sent in "
                           f"{digest} ({sent['item_id']})")
    version = ItemStatement.from_bytes(parse_envelope(str(sent["envelope"])).payload).item_version
    if message.item_version != version:
        raise InvalidInput(f"{where}: item_version {message.item_version!r} is not the "
                           f"version sent ({version!r})")
    if onward and recipient not in ex.network.network.parties:
        raise Denied(f"{where}: recipient {recipient} is not a party in {ex.party}'s network")
    known = ex.store.consent_request(request_id)
    if known is not None:
        if (known["envelope_sha256"], known["holder"], known["recipient"]) != (
                digest, hub, recipient):
            raise Denied(f"{where}: this request_id already names another request")
        return {"outcome": "accepted"}  # the same request again: nothing new
    if relay and (state := ex.store.share_state(digest)) in ("success", "failure"):
        raise Denied(f"{where}: the share of {sent['item_id']} to {recipient} has already "
                     f"ended ({state}); there is nothing to consent to")
    if (open_ := ex.store.open_consent_request(envelope_sha256=digest, holder=hub,
                                               recipient=recipient)) is not None:
        raise Denied(f"{where}: consent request {open_['id']} for this envelope, holder "
                     f"{hub} and recipient {recipient} is already open")
    added = ex.store.add_consent_request(
        id=request_id, item_id=message.item_id, item_version=message.item_version,
        envelope_sha256=digest, originator=ex.party, holder=hub, recipient=recipient,
        requested_us=message.requested_us, expires_us=message.expires_us)
    if added and relay:
        ex.store.finish_share(digest, state="pending", message=(
            f"held at {hub}; consent request {request_id} awaits {ex.party}'s answer "
            f"(tisa consent list)"))
    return {"outcome": "accepted"}


def on_forwarded_receipt(ex: Exchange, hub: str, message: ReceiptMessage) -> Result:
    receipt = message.receipt
    digest = claimed_envelope(receipt)  # which share; _accept_receipt verifies it all
    sent = ex.store.sent(digest)
    if sent is None or sent["next_hop"] != hub:
        raise Denied(f"{hub} forwards a receipt for envelope {digest}, which {ex.party} did "
                     f"not relay through {hub}")
    if not _accept_receipt(ex, sent, receipt):
        raise VerificationError("receipt refused", detail="forwarded receipt did not verify")
    return {"outcome": "accepted"}


def on_consent_refused(ex: Exchange, holder: str, request_id: str, reason: str) -> None:
    """The holder refused this node's signed answer to its consent request: the share
    that waited on it ends now, with the holder's reason (a denial has ended it already;
    a share that is final stays so)."""
    request = ex.store.consent_request(request_id)
    if request is None or request["holder"] != holder:
        return
    ex.store.finish_share(str(request["envelope_sha256"]), state="failure", message=(
        f"not delivered: {holder} refused {ex.party}'s consent {request_id} (for "
        f"{request['recipient']}): {reason}"))


def on_consent_delivered(ex: Exchange, holder: str, request_id: str) -> None:
    request = ex.store.consent_request(request_id)
    if request is not None and request["holder"] == holder and request["state"] == "approved":
        ex.store.finish_share(str(request["envelope_sha256"]), state="pending", message=(
            f"{ex.party} approved consent {request_id}; {holder} has it and relays it to "
            f"{request['recipient']}"))


def on_dropped(ex: Exchange, hub: str, message: DroppedMessage) -> Result:
    digest = message.envelope_sha256
    sent = ex.store.sent(digest)
    if sent is None or sent["next_hop"] != hub:
        raise Denied(f"{hub} drops envelope {digest}, which {ex.party} did not send to it")
    ex.store.finish_share(digest, state="failure",
                          message=f"dropped by {hub}: {message.reason or 'no reason given'}")
    for request in ex.store.consent_requests():
        if request["envelope_sha256"] == digest and request["holder"] == hub:
            ex.store.answer_consent(request["id"], state="expired",
                                    reason=message.reason, message=None)
    return {"outcome": "accepted"}


def peer_reason(reason: object) -> str:
    """A peer's stated reason, as it may go into a status message (bounded)."""
    return bounded_reason(str(reason)) if reason else "no reason given"
