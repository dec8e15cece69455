"""Statements signed into envelopes: who may sign what, and a relay end to end."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.crypto.dsse import Envelope, parse_envelope, sign_envelope
from tisa.crypto.items import ItemStatement, item_content, new_item_statement
from tisa.crypto.sealing import generate_seal_key
from tisa.crypto.signed import sign_statement, verify_statement
from tisa.crypto.statements import ConsentStatement, RelayStatement
from tisa.errors import VerificationError
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.receipt_proofs import verify_receipt_proof

KEYS = {code: Ed25519PrivateKey.generate() for code in ("KOR", "USA", "JPN", "AUS")}
NETWORK = {code: key.public_key() for code, key in KEYS.items()}
BUNDLE: dict[str, Any] = {
    "type": "bundle",
    "id": "bundle--6f0b6d2c-1a9e-4c1e-9d7a-2b3c4d5e6f70",
    "objects": [],
}


def kor_item(**changes: Any) -> ItemStatement:
    fields: dict[str, Any] = {
        "originator": "KOR",
        "recipient": "JPN",
        "path": ("KOR", "USA", "JPN"),
        "item_id": BUNDLE["id"],
        "item_version": "1",
        "level": "SECRET",
        "topics": ("nk-missile",),
        "created": "2019-09-02T10:00:00Z",
        "content": BUNDLE,
    }
    return new_item_statement(**{**fields, **changes})


def test_sign_and_verify_round_trip() -> None:
    statement = kor_item()
    envelope = sign_statement(statement, KEYS["KOR"])
    assert envelope.signatures[0].keyid == "KOR"
    verified = verify_statement(parse_envelope(envelope.to_json()), NETWORK, ItemStatement)
    assert verified.statement == statement
    assert verified.payload == statement.to_bytes()
    assert (verified.signer, verified.envelope_sha256) == ("KOR", envelope.digest())


def test_a_party_cannot_sign_for_another() -> None:
    # JPN signs, with its own trusted key, an item that says KOR originated it.
    envelope = sign_envelope(ItemStatement.PAYLOAD_TYPE, kor_item().to_bytes(), KEYS["JPN"], "JPN")
    with pytest.raises(VerificationError, match="envelope did not verify") as caught:
        verify_statement(envelope, NETWORK, ItemStatement)
    assert "names KOR as signer" in caught.value.detail


def test_wrong_kind_and_unparsable_payload_fail_opaquely() -> None:
    envelope = sign_statement(kor_item(), KEYS["KOR"])
    with pytest.raises(VerificationError) as caught:
        verify_statement(envelope, NETWORK, ConsentStatement)
    assert "payloadType" in caught.value.detail
    junk = sign_envelope(ItemStatement.PAYLOAD_TYPE, b'{"type":"tisa.item"}', KEYS["KOR"], "KOR")
    with pytest.raises(VerificationError) as caught:
        verify_statement(junk, NETWORK, ItemStatement)
    assert "not a valid tisa.item" in caught.value.detail


def test_tampering_at_the_hub_is_detected() -> None:
    envelope = sign_statement(kor_item(), KEYS["KOR"])
    forged = kor_item(recipient="AUS", path=("KOR", "USA", "AUS"))
    tampered = Envelope(
        payload_type=envelope.payload_type,
        payload=forged.to_bytes(),
        signatures=envelope.signatures,
    )
    with pytest.raises(VerificationError):
        verify_statement(tampered, NETWORK, ItemStatement)


def test_relay_with_consent_end_to_end() -> None:
    """KOR -> USA (hub, cannot read) -> JPN, with KOR's consent and USA's word."""
    jpn_seal = generate_seal_key()
    # KOR: seal to JPN, sign the item.
    item_envelope = sign_statement(kor_item(seal_to=jpn_seal.public_key()), KEYS["KOR"])
    wire = item_envelope.to_json()

    # USA: verifies KOR's item, routes on the header, asks KOR, gets a signed yes.
    at_hub = verify_statement(parse_envelope(wire), NETWORK, ItemStatement)
    header = at_hub.statement
    assert header.content is None
    assert (header.originator, header.recipient) == ("KOR", "JPN")
    consent_envelope = sign_statement(
        ConsentStatement(
            request_id="req-1",
            originator="KOR",
            holder="USA",
            recipient=header.recipient,
            item_id=header.item_id,
            item_version=header.item_version,
            envelope_sha256=at_hub.envelope_sha256,
            decision="approve",
            decided_at="2019-09-02T10:05:00Z",
        ),
        KEYS["KOR"],
    )
    relay_envelope = sign_statement(
        RelayStatement(
            hub="USA",
            originator="KOR",
            recipient="JPN",
            envelope_sha256=at_hub.envelope_sha256,
            item_id=header.item_id,
            item_version=header.item_version,
            agreement_id="tisa-2014",
            relayed_on="2019-09-02",
            consent_sha256=consent_envelope.digest(),
        ),
        KEYS["USA"],
    )
    # The hub forwards KOR's exact bytes (re-serialized), KOR's consent and its own statement.
    forwarded = [e.to_json() for e in (item_envelope, consent_envelope, relay_envelope)]

    # JPN: every signature, every cross-reference, then the content.
    got_item = verify_statement(parse_envelope(forwarded[0]), NETWORK, ItemStatement)
    got_consent = verify_statement(parse_envelope(forwarded[1]), NETWORK, ConsentStatement)
    got_relay = verify_statement(parse_envelope(forwarded[2]), NETWORK, RelayStatement)
    assert got_item.statement.recipient == "JPN"
    assert got_consent.statement.approved
    assert got_consent.statement.envelope_sha256 == got_item.envelope_sha256
    assert got_relay.statement.envelope_sha256 == got_item.envelope_sha256
    assert got_relay.statement.consent_sha256 == got_consent.envelope_sha256
    assert item_content(got_item.statement, jpn_seal) == BUNDLE

    # JPN's receipt (the tlog-proof of its `received` entry, in a checkpoint JPN signs
    # with its key as its log key) travels back through USA and verifies at KOR.
    jpn_log = MemoryEventLog(origin=log_origin("JPN"), signer=Ed25519Signer(
        name=log_origin("JPN"), private_key=KEYS["JPN"]))
    [index] = jpn_log.record([LogEntry(
        kind=EntryKind.RECEIVED, at="2019-09-02T10:06:00Z", item_id=got_item.statement.item_id,
        item_version=1, from_party="USA", to_party="JPN", originator="KOR",
        envelope_sha256=got_item.envelope_sha256)])
    receipt = jpn_log.receipt_proof(index).decode()
    at_kor = verify_receipt_proof(
        receipt, receiver="JPN", log_verifiers=[log_verifier("JPN", NETWORK["JPN"])],
        envelope_sha256=item_envelope.digest(), originator="KOR", item_id=BUNDLE["id"],
        from_party="USA")
    assert (at_kor.entry.to_party, at_kor.entry.at) == ("JPN", "2019-09-02T10:06:00Z")
    with pytest.raises(VerificationError):  # JPN's log key, nobody else's
        verify_receipt_proof(
            receipt, receiver="JPN", log_verifiers=[log_verifier("JPN", NETWORK["USA"])],
            envelope_sha256=item_envelope.digest(), originator="KOR", item_id=BUNDLE["id"],
            from_party="USA", checkpoint_cache=None)
