"""Receipts must prove the receiver logged the delivery: a receipt is the receiver's C2SP
tlog-proof of its ``received`` entry, and the originator (and a hub passing a receipt
back) verify it against the receiver's log key. A receipt that does not verify never
turns a share ``success``: whatever is wrong with it (checkpoint signed by another key,
a proof of another entry, a modified entry, a truncated or altered inclusion proof, text
that is no proof at all), the share ends ``failure`` "not proven delivered"."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import select
from stix_samples import indicator, tisa_marking

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import EntryKind, LogEntry, parse_entry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.ledger.tlog_proof import parse_tlog_proof
from tisa.store.exchange_tables import exchange_received, exchange_sent

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force, the KOR-JPN GSOMIA not yet
DECOY = "0" * 64  # the envelope of another entry in the receiver's log

#: every way a receipt can be wrong; each must end the share "not proven delivered"
BAD = ["other-key", "other-origin", "other-entry", "modified-extra", "truncated-proof",
       "altered-proof", "altered-index", "not-a-proof"]


def receiver_signer(c: Cluster, kind: str) -> Ed25519Signer:
    """JPN's log signer: its own, with another key (``other-key``), or of another origin
    under JPN's key (``other-origin``)."""
    key = c["JPN"].exchange.signing_key
    origin = log_origin("JPN")
    if kind == "other-key":
        key = Ed25519PrivateKey.generate()
    elif kind == "other-origin":
        origin = log_origin("USA")
    return Ed25519Signer(name=origin, private_key=key)


def receiver_log(c: Cluster, kind: str) -> MemoryEventLog:
    """A real log for JPN, signed by ``receiver_signer(c, kind)``."""
    signer = receiver_signer(c, kind)
    return MemoryEventLog(origin=signer.name, signer=signer)


def decoy(log: MemoryEventLog, item_id: str) -> int:
    """Another delivery in the receiver's log: same item, same parties, another envelope."""
    [index] = log.record([LogEntry(
        kind=EntryKind.RECEIVED, at="2026-01-01T00:00:00Z", item_id=item_id, item_version=1,
        from_party="KOR", to_party="JPN", originator="KOR", envelope_sha256=DECOY)])
    return index


def tampered(kind: str, proof: bytes, log: MemoryEventLog) -> bytes:
    """``proof`` (a genuine tlog-proof from ``log``, not its first entry) made wrong."""
    p = parse_tlog_proof(proof)
    assert p.extra is not None and p.index > 0 and p.proof
    if kind in ("genuine", "other-key", "other-origin"):  # the log itself is wrong
        return proof
    if kind == "other-entry":  # a genuine proof, of the decoy entry
        return MemoryEventLog.receipt_proofs(log, [0])[0]  # (not a TamperingLog's)
    if kind == "modified-extra":  # every checked field still right; another time
        entry = dataclasses.replace(parse_entry(p.extra), at="2000-01-01T00:00:00Z")
        return dataclasses.replace(p, extra=entry.to_bytes()).to_bytes()
    if kind == "truncated-proof":
        return dataclasses.replace(p, proof=p.proof[:-1]).to_bytes()
    if kind == "altered-proof":
        first = bytes([p.proof[0][0] ^ 1]) + p.proof[0][1:]
        return dataclasses.replace(p, proof=(first, *p.proof[1:])).to_bytes()
    if kind == "altered-index":
        return dataclasses.replace(p, index=p.index - 1).to_bytes()
    assert kind == "not-a-proof"
    return b'{"payloadType": "application/vnd.tisa.receipt+json", "payload": ""}'


class TamperingLog(MemoryEventLog):
    """A receiver's real log whose receipts come out wrong (a faulty or lying receiver):
    each proof it issues is ``tampered(kind, …)``."""

    def __init__(self, signer: Ed25519Signer, kind: str, item_id: str) -> None:
        super().__init__(origin=signer.name, signer=signer)
        self.kind = kind
        decoy(self, item_id)

    def receipt_proofs(self, indexes: Sequence[int]) -> list[bytes]:
        return [tampered(self.kind, p, self) for p in super().receipt_proofs(indexes)]


def bad_receiver(c: Cluster, kind: str, item_id: str) -> None:
    signer = receiver_signer(c, kind)
    c["JPN"].exchange.events = TamperingLog(signer, kind, item_id)


def failure(status: dict[str, Any], object_id: str) -> str:
    """The message of ``object_id``'s failure in a TAXII status ("" when it did not fail)."""
    return next((f["message"] for f in status.get("failures", []) if f["id"] == object_id), "")


def stored_receipt(c: Cluster) -> str:
    with c["JPN"].exchange.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received)).mappings().one()
    return str(row["receipt"])


def test_the_receipt_proves_jpn_logged_this_delivery(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert any("verified tlog-proof" in s.get("message", "")
                   and "in a checkpoint signed by JPN" in s.get("message", "")
                   for s in done["successes"]), done
    c.run(go())
    receipt = stored_receipt(c)  # the receipt is the tlog-proof itself, nothing around it
    entry = parse_entry(parse_tlog_proof(receipt.encode()).extra or b"")
    assert (entry.kind, entry.to_party, entry.from_party, entry.originator, entry.item_id) == (
        EntryKind.RECEIVED, "JPN", "KOR", "KOR", item["id"])
    with c["KOR"].exchange.store.engine.connect() as conn:
        sent = conn.execute(select(exchange_sent)).mappings().one()
    assert sent["receipt"] == receipt  # the originator keeps it as its evidence
    jpn_key = c["JPN"].exchange.signing_key.public_key()
    proven = verify_receipt_proof(receipt, receiver="JPN",
                                  log_verifiers=[log_verifier("JPN", jpn_key)],
                                  envelope_sha256=sent["envelope_sha256"], originator="KOR",
                                  item_id=item["id"], from_party="KOR")
    assert proven.entry == entry


@pytest.mark.parametrize("kind", BAD)
def test_direct_receipt_that_does_not_prove_delivery_is_not_success(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])
    bad_receiver(c, kind, item["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 0, done
        assert "not proven delivered: the receipt from JPN did not verify" in failure(
            done, item["id"]), done  # final, with the reason
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}  # JPN did store it
    c.run(go())
    warnings = [r.getMessage() for r in caplog.records if "did not verify" in r.getMessage()]
    assert warnings, kind
    assert stored_receipt(c)  # a receipt was there; it just does not prove the delivery


def test_a_genuine_receipt_from_the_same_receiver_log_is_success(tmp_path: Path) -> None:
    """The control for the test above: the same log and decoy, the proof untouched."""
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])
    bad_receiver(c, "genuine", item["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
    c.run(go())


#: what the local log says of a bad receipt (the peer is told less)
WHY = {
    "other-key": "no signature from a known key",
    "other-origin": "'tisa.usa/log', expected 'tisa.jpn/log'",
    "other-entry": "has envelope_sha256 '" + DECOY,
    "modified-extra": "is not proven in tisa.jpn/log",
    "not-a-proof": "log proof is malformed",
}


@pytest.mark.parametrize(("kind", "why"), sorted(WHY.items()))
def test_the_originator_logs_why_a_receipt_did_not_verify(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, why: str) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])
    bad_receiver(c, kind, item["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            await c.settle()
    c.run(go())
    warnings = [r.getMessage() for r in caplog.records if "did not verify" in r.getMessage()]
    assert warnings and all(why in w for w in warnings), warnings


@pytest.mark.parametrize("kind", BAD)
def test_hub_does_not_pass_back_a_receipt_that_does_not_prove_delivery(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    c = Cluster(tmp_path, as_of={code: BEFORE_GSOMIA for code in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET", consent_to=["JPN"])  # forwarded at once
    item = indicator(marking["id"])
    bad_receiver(c, kind, item["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 0, done
        assert "not proven delivered: JPN's receipt did not verify at USA" in failure(
            done, item["id"]), done  # the hub drops it and says why
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())
    assert c["USA"].exchange.store.held_in_state("delivered") == []
    [dropped] = c["USA"].exchange.store.held_in_state("dropped")  # not left forwarded
    assert dropped["item_id"] == item["id"]
    lines = [r.getMessage() for r in caplog.records if "bad receipt from JPN" in r.getMessage()]
    assert lines and all(WHY.get(kind, "") in line for line in lines), lines


def forwarded_receipt(c: Cluster, digest: str, item_id: str, kind: str) -> bytes:
    """What a hub might pass back: JPN's proof that it received ``digest`` from USA."""
    log = receiver_log(c, kind)
    decoy(log, item_id)
    [index] = log.record([LogEntry(
        kind=EntryKind.RECEIVED, at="2026-01-01T00:00:01Z", item_id=item_id, item_version=1,
        from_party="USA", to_party="JPN", originator="KOR", envelope_sha256=digest)])
    return tampered(kind, log.receipt_proof(index), log)


async def pass_back(c: Cluster, item: dict[str, Any], marking: dict[str, Any], kind: str
                    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """KOR shares ``item`` (held at USA, awaiting consent); then USA passes back a receipt
    of ``kind`` for it. KOR's status of the share, its sent row, and its answer to USA."""
    status = await c.post("KOR", "to-JPN", marking, item)
    await c.settle()
    with c["KOR"].exchange.store.engine.connect() as conn:
        sent = dict(conn.execute(select(exchange_sent)).mappings().one())
    receipt = forwarded_receipt(c, sent["envelope_sha256"], item["id"], kind).decode()
    body, _ = sign_request(c["USA"].exchange, "KOR", [{"kind": "receipt", "receipt": receipt}])
    r = await c.client.post(endpoint("KOR") + "/exchange/v1/messages", content=body,
                            headers=PEER_HEADERS)
    [result] = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results
    return status, sent, result


@pytest.mark.parametrize("kind", ["genuine", "other-key", "other-origin", "modified-extra",
                                  "truncated-proof", "altered-proof", "altered-index"])
def test_the_originator_checks_a_receipt_the_hub_passes_back(tmp_path: Path,
                                                             kind: str) -> None:
    """Were the hub not to check (or to lie), the originator's own check decides."""
    c = Cluster(tmp_path, as_of={code: BEFORE_GSOMIA for code in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")  # held at USA, awaiting KOR's consent
    item = indicator(marking["id"])

    async def go() -> None:
        status, sent, result = await pass_back(c, item, marking, kind)
        assert sent["next_hop"] == "USA"
        done = await c.status("KOR", status["id"])
        if kind == "genuine":
            assert result == {"outcome": "accepted"}
            assert done["success_count"] == 2, done
            return
        assert result == {"outcome": "refused", "reason": "receipt refused"}
        assert done["success_count"] == 0, done
        assert "not proven delivered: the receipt from JPN did not verify" in failure(
            done, item["id"]), done
    c.run(go())


@pytest.mark.parametrize(("kind", "reason"), [
    ("other-entry", "which KOR did not relay through USA"),
    ("not-a-proof", "receipt: must be tlog-proof text"),
])
def test_a_passed_back_receipt_of_no_share_is_refused_to_the_hub(
        tmp_path: Path, kind: str, reason: str) -> None:
    """A receipt that names no envelope this node relayed through the hub (or names
    none) cannot end any share: it is refused to the hub, with the reason."""
    c = Cluster(tmp_path, as_of={code: BEFORE_GSOMIA for code in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status, _, result = await pass_back(c, item, marking, kind)
        assert result["outcome"] == "refused" and reason in str(result["reason"]), result
        done = await c.status("KOR", status["id"])
        assert done["pending_count"] == 2, done  # still held at USA, awaiting consent
    c.run(go())
