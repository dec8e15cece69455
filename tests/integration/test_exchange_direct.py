"""Direct delivery between two in-process nodes: signed item, Art. 4 re-marking, signed
receipt with a tlog-proof, idempotent re-delivery."""

from __future__ import annotations

from pathlib import Path

from exchange_cluster import Cluster
from sqlalchemy import select
from stix_samples import indicator, tisa_marking

from tisa.crypto.dsse import parse_envelope
from tisa.ledger.entries import EntryKind, parse_entry
from tisa.ledger.tlog_proof import parse_tlog_proof
from tisa.store.exchange_tables import exchange_received, exchange_sent


def test_direct_item_arrives_remarked_and_status_turns_success(tmp_path: Path) -> None:
    c = Cluster(tmp_path)
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        assert status["pending_count"] == 2
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert any("delivered to JPN" in s.get("message", "") for s in done["successes"])
        inbox = await c.inbox("JPN")
        by_id = {o["id"]: o for o in inbox}
        assert item["id"] in by_id
        stored = by_id[item["id"]]
        [ref] = stored["object_marking_refs"]
        ext = next(iter(by_id[ref]["extensions"].values()))
        assert ext["level"] == "極秘" and ext["originator"] == "KOR"
        assert stored["name"] == item["name"]
    c.run(go())

    jpn = c["JPN"].exchange
    with jpn.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received)).mappings().one()
    assert parse_envelope(row["envelope"]).digest() == row["envelope_sha256"]
    receipt = parse_tlog_proof(row["receipt"].encode())  # the receipt is JPN's tlog-proof
    entry = parse_entry(receipt.extra or b"")
    assert (entry.kind, entry.to_party, entry.envelope_sha256) == (
        EntryKind.RECEIVED, "JPN", row["envelope_sha256"])
    with c["KOR"].exchange.store.engine.connect() as conn:
        sent = conn.execute(select(exchange_sent)).mappings().one()
    assert sent["receipt"] == row["receipt"]
