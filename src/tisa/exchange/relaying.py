"""The hub's part: hold an item, ask the originator for consent (unless it was given up
front in ``consent_to``), forward the originator's exact envelope with a signed relay
statement once consent is there — re-deciding the route on the day it forwards — pass
the final recipient's receipt back, and drop what is denied, expired or no longer allowed.

Held states: ``awaiting`` (consent) -> ``forward`` -> ``forwarded`` -> ``delivered``;
or ``dropped``. With prior consent (``consent_to``) the forward is queued with the hold,
in the transaction of the request that brought the item: held straight as ``forwarded``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tisa.crypto._encoding import JsonValue
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement
from tisa.crypto.signed import Verified, sign_statement, verify_statement
from tisa.crypto.statements import ConsentStatement, RelayStatement
from tisa.errors import Denied, InvalidInput, TisaError, VerificationError
from tisa.exchange.context import Exchange, iso_us, log, log_item, logged_together, version_us
from tisa.exchange.messages import ConsentMessage, bounded_reason
from tisa.exchange.protocol import CONSENT_REQUEST, DROPPED, ITEM, RECEIPT
from tisa.exchange.routing import hub_route, require_route
from tisa.ledger.entries import EntryKind
from tisa.ledger.log_names import log_verifier
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.model.route import RouteDecision
from tisa.store.sql import now_us

Result = dict[str, JsonValue]
Message = tuple[str, str, str, str]



def on_item_to_relay(ex: Exchange, sender: str, verified: Verified[ItemStatement],
                     text: str) -> Result:
    item = verified.statement
    digest = verified.envelope_sha256
    if sender != item.originator:
        raise Denied(f"{sender} is not the originator of {item.item_id}; a hub takes items "
                     "from originators only")
    if ex.store.held(digest) is not None:
        return {"outcome": "held", "detail": f"held at {ex.party}"}
    decision = hub_route(ex, item)
    if item.recipient not in ex.peers:
        raise Denied(f"{item.recipient} has no endpoint and key in {ex.party}'s network file")
    now = now_us()
    expires = now + ex.settings.consent_ttl_seconds * 1_000_000
    messages: list[Message] = []
    forward = None
    if item.recipient in (item.consent_to or ()):
        # Prior written consent: the forward is queued with the hold, in this request's
        # transaction (the route was just decided, on this day), so the delivery worker
        # sends it as soon as the reply is out instead of after a round of its own.
        try:
            forward = _relay(ex, item, digest, text, None, digest, decision)
        except (InvalidInput, Denied, VerificationError):
            raise  # refused with its reason
        except Exception as exc:  # as in tick: a fault with one item must not fail the
            # whole request (and have the batch retried for ever): this one is refused
            log.exception("%s: forwarding %s failed", ex.party, item.item_id)
            raise Denied(f"{ex.party} could not forward it ({type(exc).__name__}; see "
                         f"{ex.party}'s log)") from exc
        messages.append(forward.message)
        state, request_id = "forwarded", None
        detail = f"held at {ex.party}; forwarding to {item.recipient} on prior consent"
        summary = (f"{ex.party} holds {{n}} items of {item.originator} for {item.recipient}; "
                   "forwarding them on prior consent")
    else:
        state, request_id = "awaiting", str(uuid.uuid4())
        body = {"kind": CONSENT_REQUEST, "request_id": request_id, "envelope_sha256": digest,
                "item_id": item.item_id, "item_version": item.item_version,
                "recipient": item.recipient, "requested_at": iso_us(now),
                "expires_at": iso_us(expires)}
        messages.append((item.originator, CONSENT_REQUEST, json.dumps(body), request_id))
        detail = (f"held at {ex.party}; consent request {request_id} awaits "
                  f"{item.originator}'s answer")
        summary = (f"{ex.party} holds {{n}} items of {item.originator} for {item.recipient}; "
                   f"their consent requests await {item.originator}'s answer")

    def held() -> None:
        # Only for the request whose hold was inserted: a concurrent one bringing the same
        # envelope (an originator's retry) records nothing, as it queues nothing.
        version = version_us(item.item_version)
        ex.record(EntryKind.RECEIVED, item_id=item.item_id, version_us=version,
                  from_party=sender, to_party=ex.party, originator=item.originator,
                  envelope_sha256=digest)
        if request_id is not None:
            ex.record(EntryKind.CONSENT_REQUESTED, item_id=item.item_id, version_us=version,
                      from_party=ex.party, to_party=item.originator,
                      originator=item.originator, envelope_sha256=digest)
        log_item(summary, "%s holds %s for %s: %s", ex.party, item.item_id, item.recipient,
                 detail)
        if forward is not None:
            forward.done()  # recorded (and logged) relayed, after received

    if not ex.store.hold(envelope_sha256=digest, envelope=text, originator=item.originator,
                         recipient=item.recipient, item_id=item.item_id,
                         item_version=item.item_version, state=state, request_id=request_id,
                         consent=None, expires_us=expires, messages=messages, on_held=held):
        return {"outcome": "held", "detail": f"held at {ex.party}"}  # held meanwhile
    return {"outcome": "held", "detail": detail}


def on_consent(ex: Exchange, sender: str, message: ConsentMessage) -> Result:
    text = message.consent
    verified = verify_statement(parse_envelope(text), {sender: ex.trusted_keys[sender]},
                                ConsentStatement)
    consent = verified.statement
    held = ex.store.held_by_request(consent.request_id)
    if held is None or (held["envelope_sha256"], held["originator"], held["recipient"]) != (
        consent.envelope_sha256, consent.originator, consent.recipient
    ) or consent.holder != ex.party:
        raise Denied(f"consent {consent.request_id} matches no item held at {ex.party} "
                     f"awaiting {sender}'s answer")
    digest, ref = consent.envelope_sha256, str(held["ref"])  # ref: this share's own row
    version = version_us(consent.item_version)
    if consent.approved:
        if ex.store.update_held(ref, expect=["awaiting"], state="forward", consent=text):
            log.info("%s: %s's signed consent verified for %s", ex.party, sender,
                     consent.item_id)
            ex.record(EntryKind.CONSENT_GRANTED, item_id=consent.item_id, version_us=version,
                      from_party=sender, to_party=ex.party, originator=consent.originator,
                      envelope_sha256=digest)
        return {"outcome": "accepted"}
    reason = f"{sender} denied consent" + (f": {consent.reason}" if consent.reason else "")
    if ex.store.update_held(ref, expect=["awaiting"], state="dropped"):
        ex.store.finish_share(ref, state="failure", message=reason)  # onward shares
        ex.record(EntryKind.CONSENT_DENIED, item_id=consent.item_id, version_us=version,
                  from_party=sender, to_party=ex.party, originator=consent.originator,
                  envelope_sha256=digest, reason=reason)
    return {"outcome": "accepted"}


def tick(ex: Exchange) -> int:
    """Expire unanswered consent requests; forward what may go. Work done."""
    done = 0
    now = now_us()
    with logged_together(), ex.store.unit():
        for held in ex.store.held_in_state("awaiting", expires_before_us=now):
            done += _drop(ex, held, ["awaiting"], "the consent request expired unanswered",
                          EntryKind.CONSENT_EXPIRED)
        forwards: dict[str, Forward] = {}
        for held in ex.store.held_in_state("forward"):
            try:
                forward = _forward(ex, held)
            except Exception as exc:  # a fault with one item must not hold up the others
                log.exception("%s: forwarding %s failed", ex.party, held["item_id"])
                _drop(ex, held, ["forward"], f"the hub could not forward it ({type(exc).__name__}"
                      "; see the hub's log)", EntryKind.REFUSED)
                forward = None
            if forward is None:
                done += 1  # dropped
            else:
                forwards[str(held["ref"])] = forward
        moved = ex.store.advance_held({k: [f.message] for k, f in forwards.items()},
                                      expect=["forward"], state="forwarded")
        for key, forward in forwards.items():
            if key in moved:
                forward.done()
                done += 1
    return done


@dataclass(frozen=True)
class Forward:
    """A held item ready to go: its peer message, and what to record once it is queued."""

    message: Message
    done: Callable[[], None]


def _forward(ex: Exchange, held: dict[str, object]) -> Forward | None:
    """The forward of a held item; None when it was dropped instead."""
    text = str(held["envelope"])
    try:
        envelope = parse_envelope(text)
        item = ItemStatement.from_bytes(envelope.payload)
        if item.recipient == ex.party:  # onward sharing by this node, not a relay
            return _forward_onward(ex, held, item, text)
        decision = hub_route(ex, item)  # the hub decides again, on the day it forwards
    except TisaError as exc:
        _drop(ex, held, ["forward"], exc.diagnostics(), EntryKind.REFUSED)
        return None
    consent = None if held["consent"] is None else str(held["consent"])
    return _relay(ex, item, envelope.digest(), text, consent, str(held["ref"]), decision)


def _relay(ex: Exchange, item: ItemStatement, digest: str, text: str, consent: str | None,
           key: str, decision: RouteDecision) -> Forward:
    """The forward of the originator's envelope ``text`` (digest ``digest``) with this
    hub's signed relay statement under ``decision`` (and the consent, if any); ``key``:
    its held row's ref."""
    consent_digest = None if consent is None else parse_envelope(consent).digest()
    relay = RelayStatement(
        hub=ex.party, originator=item.originator, recipient=item.recipient,
        envelope_sha256=digest, item_id=item.item_id,
        item_version=item.item_version, agreement_id=decision.agreements[0],
        relayed_on=ex.today().isoformat(), consent_sha256=consent_digest)
    body: dict[str, JsonValue] = {
        "kind": ITEM, "item": text,
        "relay": sign_statement(relay, ex.signing_key).to_json().decode("utf-8")}
    if consent is not None:
        body["consent"] = consent

    def done() -> None:
        ex.record(EntryKind.RELAYED, item_id=item.item_id,
                  version_us=version_us(item.item_version), from_party=ex.party,
                  to_party=item.recipient, originator=item.originator,
                  envelope_sha256=digest)
        log_item(f"{ex.party} relays {{n}} items of {item.originator} to {item.recipient} "
                 f"under {decision.agreements[0]} on {ex.today()}",
                 "%s relays %s to %s under %s on %s (%s's signed envelope + relay statement%s)",
                 ex.party, item.item_id, item.recipient, decision.agreements[0], ex.today(),
                 item.originator, " + consent" if consent is not None else ", prior consent")

    return Forward((item.recipient, ITEM, json.dumps(body), key), done)


def _forward_onward(ex: Exchange, held: dict[str, object], item: ItemStatement,
                    text: str) -> Forward:
    recipient, key = str(held["recipient"]), str(held["ref"])
    require_route(ex, item, holder=ex.party, path=(ex.party, recipient))
    body: dict[str, JsonValue] = {"kind": ITEM, "item": text}
    if held["consent"] is not None:
        body["consent"] = str(held["consent"])

    def done() -> None:
        ex.record(EntryKind.SENT, item_id=item.item_id,
                  version_us=version_us(item.item_version), from_party=ex.party,
                  to_party=recipient, originator=item.originator,
                  envelope_sha256=str(held["envelope_sha256"]))

    return Forward((recipient, ITEM, json.dumps(body), key), done)


def on_consent_request_refused(ex: Exchange, originator: str, message: dict[str, JsonValue],
                               reason: str) -> None:
    """The originator refused this node's consent request (as hub or onward holder): the
    item it holds for that request is dropped now, with the originator's reason, instead
    of waiting out the consent TTL."""
    held = ex.store.held_by_request(str(message.get("request_id", "")))
    if held is None or held["originator"] != originator:
        return
    _drop(ex, held, ["awaiting"], f"{originator} refused the consent request: {reason}",
          EntryKind.REFUSED, notify=False)  # the originator knows: it refused


def _drop(ex: Exchange, held: dict[str, object], expect: list[str], reason: str,
          kind: EntryKind, *, notify: bool = True) -> int:
    digest, originator = str(held["envelope_sha256"]), str(held["originator"])
    ref = str(held["ref"])
    body = json.dumps({"kind": DROPPED, "envelope_sha256": digest,
                       "reason": bounded_reason(reason)})  # as the originator takes it
    # A hub tells the originator (unless it knows already); a holder's onward share is
    # its own business (the originator's share ended at this node, and a drop notice
    # would end its other open requests for the envelope).
    tell = [(originator, DROPPED, body, digest)] if notify and not _onward(ex, held) else []
    if not ex.store.update_held(ref, expect=expect, state="dropped", messages=tell):
        return 0
    ex.store.finish_share(ref, state="failure", message=f"not shared: {reason}")
    ex.record(kind, item_id=str(held["item_id"]),
              version_us=version_us(str(held["item_version"])), from_party=ex.party,
              to_party=str(held["recipient"]), originator=originator, envelope_sha256=digest,
              reason=reason)
    log.warning("%s dropped %s: %s", ex.party, held["item_id"], reason)
    return 1


def _onward(ex: Exchange, held: dict[str, object]) -> bool:
    """A held row of this node's own onward share (not an item it relays as a hub)."""
    try:
        item = ItemStatement.from_bytes(parse_envelope(str(held["envelope"])).payload)
    except TisaError:
        return False
    return item.recipient == ex.party


def on_forward_results(ex: Exchange, results: Sequence[tuple[str, dict[str, JsonValue]]]
                       ) -> None:
    """The final recipient answered the hub's forwards (each named by its held row's
    ref): pass each verified receipt back (one set-based move for the batch), or drop
    what was refused."""
    delivered: dict[str, list[Message]] = {}
    for ref, result in results:
        message = on_forward_result(ex, ref, result)
        if message is not None:
            delivered[ref] = [message]
    ex.store.advance_held(delivered, expect=["forwarded"], state="delivered")


def on_forward_result(ex: Exchange, ref: str, result: dict[str, JsonValue]
                      ) -> Message | None:
    """One answer to a forward: the receipt message to pass back to the originator once
    the held item moves on to ``delivered``; None when there is nothing to pass back."""
    held = ex.store.held(ref)
    if held is None:
        return None
    digest = str(held["envelope_sha256"])
    recipient, originator = str(held["recipient"]), str(held["originator"])
    receipt = result.get("receipt")
    if result.get("outcome") == "received" and isinstance(receipt, str):
        try:  # the receipt is the recipient's tlog-proof of its `received` entry
            verify_receipt_proof(
                receipt, receiver=recipient,
                log_verifiers=[log_verifier(recipient, ex.trusted_keys[recipient])],
                envelope_sha256=digest, originator=originator, item_id=str(held["item_id"]),
                from_party=ex.party)
        except (VerificationError, TisaError) as exc:
            log.warning("%s: bad receipt from %s for %s: %s", ex.party, recipient, digest,
                        getattr(exc, "detail", "") or exc)
            # Not left "forwarded" for ever: the originator learns delivery is unproven.
            _drop(ex, held, ["forwarded"], f"not proven delivered: {recipient}'s receipt "
                  f"did not verify at {ex.party}", EntryKind.REFUSED)
            return None
        log_item(f"{ex.party}: {recipient}'s receipts verified for {{n}} items; passing them "
                 f"back to {originator}", "%s: %s's receipt verified; passing it back to %s",
                 ex.party, recipient, originator)
        return (originator, RECEIPT, json.dumps({"kind": RECEIPT, "receipt": receipt}), digest)
    reason = f"{recipient} refused it: {result.get('reason', 'no reason given')}"
    _drop(ex, held, ["forwarded"], reason, EntryKind.REFUSED)
    return None
