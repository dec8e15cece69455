"""Receipts must prove the receiver logged the delivery: the originator (and a hub passing
a receipt back) verify the receipt's tlog-proof against the receiver's log key. A
receiver whose log proof does not verify never turns a share ``success``."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import Cluster
from sqlalchemy import select
from stix_samples import indicator, tisa_marking

from tisa.crypto.dsse import parse_envelope
from tisa.crypto.statements import ReceiptStatement
from tisa.ledger.entries import EntryKind, parse_entry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.ledger.tlog_proof import parse_tlog_proof
from tisa.store.exchange_tables import exchange_received

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force, the KOR-JPN GSOMIA not yet


def receiver_log(c: Cluster, kind: str) -> MemoryEventLog:
    """A real log for JPN: its own (``good``), signed with another key, or of another
    origin under JPN's key."""
    key = c["JPN"].exchange.signing_key
    origin = log_origin("JPN")
    if kind == "other-key":
        key = Ed25519PrivateKey.generate()
    elif kind == "other-origin":
        origin = log_origin("USA")
    return MemoryEventLog(origin=origin, signer=Ed25519Signer(name=origin, private_key=key))


def stored_receipt(c: Cluster) -> ReceiptStatement:
    with c["JPN"].exchange.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received)).mappings().one()
    return ReceiptStatement.from_bytes(parse_envelope(row["receipt"]).payload)


def test_the_receipt_proves_jpn_logged_this_delivery(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert any("verified tlog-proof" in s.get("message", "") for s in done["successes"])
    c.run(go())
    receipt = stored_receipt(c)
    assert receipt.log_proof is not None
    entry = parse_entry(parse_tlog_proof(receipt.log_proof.encode()).extra or b"")
    assert (entry.kind, entry.to_party, entry.from_party, entry.originator, entry.item_id) == (
        EntryKind.RECEIVED, "JPN", "KOR", "KOR", item["id"])
    jpn_key = c["JPN"].exchange.signing_key.public_key()
    verify_receipt_proof(receipt.log_proof, receiver="JPN",
                         log_verifiers=[log_verifier("JPN", jpn_key)],
                         envelope_sha256=receipt.envelope_sha256, originator="KOR",
                         item_id=item["id"], from_party="KOR")


@pytest.mark.parametrize(("kind", "why"), [
    ("other-key", "no signature from a known key"),
    ("other-origin", "'tisa.usa/log', expected 'tisa.jpn/log'"),
])
def test_direct_receipt_with_a_bad_log_proof_is_not_success(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, why: str) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    c["JPN"].exchange.events = receiver_log(c, kind)
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 0, done
        assert any("not proven delivered: the receipt from JPN did not verify" in f["message"]
                   for f in done["failures"]), done  # final, with the reason
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}  # JPN did store it
    c.run(go())
    warnings = [r.getMessage() for r in caplog.records if "did not verify" in r.getMessage()]
    assert warnings and all(why in w for w in warnings), warnings
    assert stored_receipt(c).log_proof  # a proof was there; it just does not verify


def test_hub_does_not_pass_back_a_receipt_whose_log_proof_fails(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = Cluster(tmp_path, as_of={code: BEFORE_GSOMIA for code in ("KOR", "USA", "JPN")})
    c["JPN"].exchange.events = receiver_log(c, "other-key")
    marking = tisa_marking("SECRET", consent_to=["JPN"])  # forwarded at once
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 0, done
        assert any("JPN's receipt did not verify at USA" in f["message"]
                   for f in done["failures"]), done  # the hub drops it and says why
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())
    assert c["USA"].exchange.store.held_in_state("delivered") == []
    assert len(c["USA"].exchange.store.held_in_state("dropped")) == 1  # not left forwarded
    assert any("bad receipt from JPN" in r.getMessage()
               and "no signature from a known key" in r.getMessage() for r in caplog.records)
