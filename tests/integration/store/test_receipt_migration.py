"""Migration 0005 (a receipt is the receiver's tlog-proof text) on SQLite and PostgreSQL:
receipts stored as signed ``tisa.receipt`` envelopes become the proof they carried — the
receiver's (given again on redelivery), the originator's evidence and a hub's queued
``receipt`` message — and still verify; anything else is left as it was."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from tisa.crypto._encoding import canonical_json
from tisa.crypto.dsse import sign_envelope
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.exchange_tables import exchange_messages, exchange_received, exchange_sent
from tisa.store.migrate import MIGRATIONS, migrate
from tisa.store.sql import engine_for

JPN = Ed25519PrivateKey.generate()
D, E = "d" * 64, "e" * 64  # a delivery with a proof in its receipt; one without
ITEM = "indicator--8f6af749-d23b-4b56-9439-d385e660be3d"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = engine_for(database_url)
    yield engine
    engine.dispose()


def to_revision(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def proof_of(digest: str) -> str:
    """JPN's tlog-proof that it received ``digest`` from KOR."""
    signer = Ed25519Signer(name=log_origin("JPN"), private_key=JPN)
    log = MemoryEventLog(origin=signer.name, signer=signer)
    [index] = log.record([LogEntry(
        kind=EntryKind.RECEIVED, at="2026-01-01T00:00:00Z", item_id=ITEM, item_version=1,
        from_party="KOR", to_party="JPN", originator="KOR", envelope_sha256=digest)])
    return log.receipt_proof(index).decode()


def old_receipt(digest: str, proof: str | None) -> str:
    """A receipt as 0004-era nodes signed it: a DSSE ``tisa.receipt`` statement."""
    statement: dict[str, object] = {
        "type": "tisa.receipt", "version": 1, "receiver": "JPN", "envelope_sha256": digest,
        "item_id": ITEM, "item_version": "1", "received_at": "2026-01-01T00:00:00Z"}
    if proof is not None:
        statement["log_proof"] = proof
    return sign_envelope("application/vnd.tisa.receipt+json", canonical_json(statement),
                         JPN, "JPN").to_json().decode()


def received_row(digest: str, receipt: str) -> dict[str, object]:
    return {"envelope_sha256": digest, "envelope": "{}", "relay": None, "consent": None,
            "sender": "KOR", "originator": "KOR", "item_id": ITEM, "version_us": 1,
            "receipt": receipt, "received_us": 1}


def sent_row(outbox_id: int, digest: str, receipt: str | None) -> dict[str, object]:
    return {"outbox_id": outbox_id, "envelope_sha256": digest, "envelope": "{}",
            "recipient": "JPN", "next_hop": "JPN", "item_id": ITEM, "version_us": 1,
            "receipt": receipt, "ref": digest}


def test_stored_receipts_become_the_proof_they_carried(engine: Engine) -> None:
    to_revision(engine, "0004")
    proof = proof_of(D)
    signed, unproven = old_receipt(D, proof), old_receipt(E, None)
    queued = {"kind": "receipt", "receipt": signed}
    with engine.begin() as conn:
        conn.execute(insert(exchange_received), [received_row(D, signed),
                                                 received_row(E, unproven)])
        conn.execute(insert(exchange_sent), [sent_row(1, D, signed), sent_row(2, E, None)])
        conn.execute(insert(exchange_messages), [
            {"peer": "KOR", "kind": kind, "body": json.dumps(body), "ref": D,
             "state": "pending", "attempts": 0, "next_attempt_us": 0, "last_error": ""}
            for kind, body in (("receipt", queued), ("dropped", {"envelope_sha256": D}))])
    migrate(engine)
    store = ExchangeStore(engine)
    assert store.receipt_for(D) == proof  # a redelivery gets the proof itself
    assert store.receipt_for(E) == unproven  # nothing to take out: left as it was
    with engine.connect() as conn:
        sent = {outbox_id: receipt for outbox_id, receipt in conn.execute(
            select(exchange_sent.c.outbox_id, exchange_sent.c.receipt))}
        bodies = [(kind, body) for kind, body in conn.execute(
            select(exchange_messages.c.kind, exchange_messages.c.body)
            .order_by(exchange_messages.c.id))]
    assert sent == {1: proof, 2: None}
    assert [(kind, json.loads(body)) for kind, body in bodies] == [
        ("receipt", {"kind": "receipt", "receipt": proof}),
        ("dropped", {"envelope_sha256": D})]
    verify_receipt_proof(proof, receiver="JPN", log_verifiers=[log_verifier(
        "JPN", JPN.public_key())], envelope_sha256=D, originator="KOR", item_id=ITEM,
        from_party="KOR", checkpoint_cache=None)


def test_text_that_is_no_old_receipt_is_left_alone(engine: Engine) -> None:
    to_revision(engine, "0004")
    odd = ["{not json", '{"payloadType": "application/vnd.tisa.receipt+json"}',
           json.dumps({"payloadType": "application/vnd.tisa.receipt+json",
                       "payload": "!!not base64!!"}),
           json.dumps({"payloadType": "application/vnd.tisa.relay+json",
                       "payload": base64.b64encode(b'{"log_proof": "x"}').decode()}),
           proof_of(D)]  # already a proof
    with engine.begin() as conn:
        conn.execute(insert(exchange_received), [
            received_row(f"{n:064x}", text) for n, text in enumerate(odd)])
    migrate(engine)
    with engine.connect() as conn:
        kept = conn.execute(select(exchange_received.c.receipt)
                            .order_by(exchange_received.c.envelope_sha256)).scalars().all()
    assert kept == odd
