"""Relays through the hub (USA) with KOR's consent, in-process: approved, denied,
expired, given up front, and an agreement ending between submission and relay."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date
from pathlib import Path

import pytest
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import select, update
from stix_samples import indicator, tisa_marking

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.statements import ConsentStatement, RelayStatement
from tisa.exchange.consent import ConsentDesk
from tisa.exchange.context import Exchange
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.exchange_tables import exchange_held, exchange_received
from tisa.store.sql_event_log import SqlEventLog

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force, the KOR-JPN GSOMIA not yet


def cluster(tmp: Path, **kw: object) -> Cluster:
    return Cluster(tmp, as_of={c: BEFORE_GSOMIA for c in ("KOR", "USA", "JPN")}, **kw)  # type: ignore[arg-type]


def desk(c: Cluster) -> ConsentDesk:
    ex = c["KOR"].exchange
    return ConsentDesk(party="KOR", store=ex.store, signing_key=ex.signing_key)


def test_relay_waits_for_consent_then_delivers_with_relay_statement(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        assert "relay route KOR -> USA -> JPN" in status["pendings"][1]["message"]
        await c.settle()
        waiting = await c.status("KOR", status["id"])
        assert waiting["pending_count"] == 2  # the item, and its marking travelling with it
        assert any("awaits KOR's answer" in p["message"] for p in waiting["pendings"])
        [request] = desk(c).open_requests()
        assert (request["item"], request["originator"], request["holder"],
                request["recipient"]) == (item["id"], "KOR", "USA", "JPN")
        assert await c.inbox("JPN") == []
        desk(c).approve(request["id"])
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())
    with c["JPN"].exchange.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received)).mappings().one()
    assert row["sender"] == "USA" and row["originator"] == "KOR"
    relay = RelayStatement.from_bytes(parse_envelope(row["relay"]).payload)
    consent = ConsentStatement.from_bytes(parse_envelope(row["consent"]).payload)
    assert relay.hub == "USA" and relay.agreement_id == "tisa" and relay.relayed_on == "2015-06-01"
    assert relay.consent_sha256 == parse_envelope(row["consent"]).digest()
    assert consent.approved and consent.holder == "USA" and consent.recipient == "JPN"


def test_denied_consent_drops_it_and_status_says_why(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", topics=("nk-nuclear",))
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = desk(c).open_requests()
        desk(c).deny(request["id"], reason="source protection")
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2
        assert "denied consent" in " | ".join(f["message"] for f in done["failures"])
        assert "source protection" in " | ".join(f["message"] for f in done["failures"])
        assert await c.inbox("JPN") == []
        held = c["USA"].exchange.store.held_in_state("dropped")
        assert len(held) == 1
    c.run(go())


def test_unanswered_consent_request_expires_and_status_says_so(tmp_path: Path) -> None:
    c = cluster(tmp_path, consent_ttl=1)
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        time.sleep(1.2)
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        assert "expired" in " | ".join(f["message"] for f in done["failures"])
        assert desk(c).open_requests() == []
        assert await c.inbox("JPN") == []
    c.run(go())


def test_up_front_consent_is_forwarded_at_once(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        assert desk(c).open_requests() == []
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())


def test_up_front_consent_forward_is_queued_with_the_hold(tmp_path: Path) -> None:
    """With prior consent the hub queues its forward in the transaction that holds the
    item: due to JPN, with the relay statement, as soon as KOR's request is answered —
    before the hub's worker has run at all."""
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])
    usa = c["USA"].exchange

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        kor = c["KOR"].worker
        assert kor is not None
        await kor.run_once()  # KOR's item reaches USA; USA's worker does not run
        [held] = usa.store.held_in_state("forwarded")
        assert held["item_id"] == item["id"]
        [due] = usa.store.due_messages(10, peer="JPN")
        body = json.loads(due["body"])
        assert (due["kind"], body["item"]) == ("item", held["envelope"])
        relay = RelayStatement.from_bytes(parse_envelope(body["relay"]).payload)
        assert (relay.hub, relay.recipient, relay.consent_sha256) == ("USA", "JPN", None)
        kinds = [parse_entry(data).kind for _, data in log_entries(usa)]
        assert kinds[-2:] == ["received", "relayed"]
    c.run(go())


def test_the_same_envelope_twice_in_one_batch_is_held_and_relayed_once(tmp_path: Path) -> None:
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])
    kor, usa = c["KOR"].exchange, c["USA"].exchange

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        worker = c["KOR"].worker
        assert worker is not None
        await asyncio.to_thread(worker._local_work)  # signed and queued, not sent
        [due] = kor.store.due_messages(10, peer="USA")
        body, _ = sign_request(kor, "USA", [json.loads(due["body"])] * 2)
        r = await c.client.post(endpoint("USA") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        assert r.status_code == 200, r.text
        results = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results
        assert [x["outcome"] for x in results] == ["held", "held"]
        assert len(usa.store.due_messages(10, peer="JPN")) == 1
        kinds = [parse_entry(data).kind for _, data in log_entries(usa)]
        assert (kinds.count("received"), kinds.count("relayed")) == (1, 1)
    c.run(go())


def log_entries(ex: Exchange) -> list[tuple[int, bytes]]:
    assert isinstance(ex.events, SqlEventLog)
    return list(ex.events.reader.entries())


def test_hub_re_decides_on_the_day_it_forwards(tmp_path: Path) -> None:
    """The relay was allowed when KOR asked; by the time the hub forwards, on its own
    day, the agreements no longer allow it: dropped, and KOR's status says why."""
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        # The hub's clock moves to a day before TISA was in effect.
        c["USA"].exchange.today = lambda: date(2014, 6, 1)
        [request] = desk(c).open_requests()
        desk(c).approve(request["id"])
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        assert "dropped by USA" in " | ".join(f["message"] for f in done["failures"])
        assert await c.inbox("JPN") == []
    c.run(go())


def test_one_held_item_the_hub_cannot_forward_does_not_hold_up_the_others(
        tmp_path: Path) -> None:
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    broken, fine = indicator(marking["id"]), indicator(marking["id"])
    usa = c["USA"].exchange

    async def go() -> None:
        first = await c.post("KOR", "to-JPN", marking, broken)
        second = await c.post("KOR", "to-JPN", fine)
        await c.settle()  # both held at USA, awaiting KOR's consent
        for request in desk(c).open_requests():
            desk(c).approve(request["id"])
        kor = c["KOR"].worker
        assert kor is not None
        await kor.run_once()  # both consents reach USA: both wait there to be forwarded
        assert len(usa.store.held_in_state("forward")) == 2
        with usa.store.engine.begin() as conn:  # one held row goes bad (a corrupt consent)
            conn.execute(update(exchange_held).where(exchange_held.c.item_id == broken["id"])
                         .values(consent="not a DSSE envelope"))
        await c.settle()
        failed = await c.status("KOR", first["id"])
        assert "the hub could not forward it" in " | ".join(
            f["message"] for f in failed.get("failures", [])), failed
        done = await c.status("KOR", second["id"])
        assert done["success_count"] == 1, done
    c.run(go())
    assert fine["id"] in received_ids(c) and broken["id"] not in received_ids(c)


def received_ids(c: Cluster) -> set[str]:
    with c["JPN"].exchange.store.engine.connect() as conn:
        return set(conn.execute(select(exchange_received.c.item_id)).scalars())


def test_hub_logs_a_lone_item_in_its_own_lines_and_a_batch_in_one_line_each(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The live demo prints the hub's INFO lines as hops: a lone item keeps its own
    lines; a batch gets one INFO line per step (each item at DEBUG)."""
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", topics=("nk-missile",), consent_to=["JPN"])
    lone = indicator(marking["id"])
    many = [indicator(marking["id"]) for _ in range(3)]

    def hub(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == level
                and r.getMessage().startswith(("USA holds ", "USA relays ", "USA: JPN's "))]

    async def go() -> None:
        with caplog.at_level(logging.DEBUG, logger="tisa.exchange"):
            await c.post("KOR", "to-JPN", marking, lone)
            await c.settle()
            assert [line.split(" ")[1] for line in hub(logging.INFO)] == [
                "holds", "relays", "JPN's"]
            assert all(lone["id"] in line for line in hub(logging.INFO)[:2])
            assert hub(logging.INFO)[2] == "USA: JPN's receipt verified; passing it back to KOR"
            caplog.clear()
            await c.post("KOR", "to-JPN", *many)
            await c.settle()
        assert hub(logging.INFO) == [
            "USA holds 3 items of KOR for JPN; forwarding them on prior consent",
            f"USA relays 3 items of KOR to JPN under tisa on {BEFORE_GSOMIA}",
            "USA: JPN's receipts verified for 3 items; passing them back to KOR"]
        assert len(hub(logging.DEBUG)) == 9
        assert all(any(o["id"] in line for line in hub(logging.DEBUG)) for o in many)
    c.run(go())
