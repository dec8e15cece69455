"""Relays through the hub (USA) with KOR's consent, in-process: approved, denied,
expired, given up front, and an agreement ending between submission and relay."""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import pytest
from exchange_cluster import Cluster
from sqlalchemy import select, update
from stix_samples import indicator, tisa_marking

from tisa.crypto.dsse import parse_envelope
from tisa.crypto.statements import ConsentStatement, RelayStatement
from tisa.exchange.consent import ConsentDesk
from tisa.store.exchange_tables import exchange_held, exchange_received

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
    marking = tisa_marking("SECRET", topics=("nk-missile",), consent_to=["JPN"])
    broken, fine = indicator(marking["id"]), indicator(marking["id"])
    usa = c["USA"].exchange

    async def go() -> None:
        first = await c.post("KOR", "to-JPN", marking, broken)
        second = await c.post("KOR", "to-JPN", fine)
        kor = c["KOR"].worker
        assert kor is not None
        await kor.run_once()  # both reach USA and wait there to be forwarded
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
                and r.getMessage().startswith(("USA holds ", "USA relays "))]

    async def go() -> None:
        with caplog.at_level(logging.DEBUG, logger="tisa.exchange"):
            await c.post("KOR", "to-JPN", marking, lone)
            await c.settle()
            assert [line.split(" ")[1] for line in hub(logging.INFO)] == ["holds", "relays"]
            assert all(lone["id"] in line for line in hub(logging.INFO))
            caplog.clear()
            await c.post("KOR", "to-JPN", *many)
            await c.settle()
        assert hub(logging.INFO) == [
            "USA holds 3 items of KOR for JPN; forwarding them on prior consent",
            f"USA relays 3 items of KOR to JPN under tisa on {BEFORE_GSOMIA}"]
        assert len(hub(logging.DEBUG)) == 6
        assert all(any(o["id"] in line for line in hub(logging.DEBUG)) for o in many)
    c.run(go())
