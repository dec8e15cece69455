"""Direct delivery between two in-process nodes: signed item, Art. 4 re-marking, signed
receipt with a tlog-proof, idempotent re-delivery."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
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


def test_signing_logs_a_lone_item_at_info_and_a_batch_in_one_info_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The live demo prints each hop from the INFO lines: a lone item keeps its own line;
    a batch logs one INFO line (each item at DEBUG), not one INFO line per item."""
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("군사Ⅱ급비밀", topics=("nk-missile",))
    lone = indicator(marking["id"])
    many = [indicator(marking["id"]) for _ in range(3)]

    def logged(level: int, start: str = "KOR signed ") -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == level and r.getMessage().startswith(start)]

    receipts = "KOR: signed receipt"

    async def go() -> None:
        with caplog.at_level(logging.DEBUG, logger="tisa.exchange"):
            await c.post("KOR", "to-JPN", marking, lone)
            await c.settle()
            assert logged(logging.INFO) == [f"KOR signed {lone['id']} for JPN; sending to JPN"]
            assert logged(logging.INFO, receipts) == [
                f"KOR: signed receipt from JPN for {lone['id']} verified"]
            assert logged(logging.INFO, "JPN received ") == [
                f"JPN received {lone['id']} from KOR (originator KOR)"]
            caplog.clear()
            await c.post("KOR", "to-JPN", *many)
            await c.settle()
        assert logged(logging.INFO) == ["KOR signed 3 items; sending them to JPN"]
        assert sorted(logged(logging.DEBUG)) == sorted(
            f"KOR signed {o['id']} for JPN; sending to JPN" for o in many)
        assert logged(logging.INFO, receipts) == [
            "KOR: signed receipts from JPN verified for 3 items"]
        assert sorted(logged(logging.DEBUG, receipts)) == sorted(
            f"KOR: signed receipt from JPN for {o['id']} verified" for o in many)
        assert logged(logging.INFO, "JPN received ") == [
            "JPN received 3 items from KOR (originator KOR)"]
        assert sorted(logged(logging.DEBUG, "JPN received ")) == sorted(
            f"JPN received {o['id']} from KOR (originator KOR)" for o in many)
    c.run(go())
