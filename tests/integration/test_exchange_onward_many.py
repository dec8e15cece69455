"""Onward sharing of one received item to several third parties, each with its own
consent; what a holder may not pass on as its own (third-party rule) or pass on further;
and one failing share never holding up the rest of the outbox."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import select
from stix_samples import indicator, tisa_marking
from test_exchange_onward import deliver_to_jpn, desk, four, network_with_aus

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement
from tisa.exchange import originating
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.exchange_outbox import OutboxItem, SentDraft
from tisa.store.exchange_tables import exchange_held, exchange_received, exchange_sent
from tisa.store.sql_event_log import SqlEventLog


def ids(objects: list[dict[str, Any]]) -> set[str]:
    return {o["id"] for o in objects}


def test_one_item_onward_to_two_third_parties_each_with_its_own_consent(
        tmp_path: Path, database_url: str) -> None:
    # The holder, JPN, on SQLite and on PostgreSQL.
    c = Cluster(tmp_path, ("KOR", "USA", "JPN", "AUS"), network=network_with_aus(),
                database_urls={"JPN": database_url})

    async def go() -> None:
        received = await deliver_to_jpn(c)
        to_aus = await c.post("JPN", "to-AUS", received)
        to_usa = await c.post("JPN", "to-USA", received)
        await c.settle()
        requests = {r["recipient"]: r for r in desk(c).open_requests()}
        assert set(requests) == {"AUS", "USA"}
        assert {r["holder"] for r in requests.values()} == {"JPN"}
        assert requests["AUS"]["id"] != requests["USA"]["id"]
        desk(c).approve(requests["AUS"]["id"])
        desk(c).deny(requests["USA"]["id"], reason="not for USA")
        await c.settle()
        aus = await c.status("JPN", to_aus["id"])
        usa = await c.status("JPN", to_usa["id"])
        assert aus["success_count"] == 1, aus
        assert "delivered to AUS" in aus["successes"][0]["message"]
        assert usa["failure_count"] == 1, usa
        assert "not for USA" in usa["failures"][0]["message"]
        assert received["id"] in ids(await c.inbox("AUS"))
        assert received["id"] not in ids(await c.inbox("USA"))

        # KOR's consent for JPN -> AUS does not take the item to USA either.
        with c["JPN"].exchange.store.engine.connect() as conn:
            text = conn.execute(select(exchange_received.c.envelope)).scalar_one()
        with c["AUS"].exchange.store.engine.connect() as conn:
            consent = conn.execute(select(exchange_received.c.consent)).scalar_one()
        body, _ = sign_request(c["JPN"].exchange, "USA",
                               [{"kind": "item", "item": text, "consent": consent}])
        r = await c.client.post(endpoint("USA") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        result = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results[0]
        assert result["outcome"] == "refused"
        assert received["id"] not in ids(await c.inbox("USA"))
    c.run(go())
    # Both shares carry KOR's one envelope, each in its own row.
    with c["JPN"].exchange.store.engine.connect() as conn:
        sent = conn.execute(select(exchange_sent)).mappings().all()
        held = conn.execute(select(exchange_held)).mappings().all()
    assert len({r["envelope_sha256"] for r in sent}) == 1
    assert sorted(r["recipient"] for r in sent) == ["AUS", "USA"]
    assert len({r["ref"] for r in sent}) == 2
    assert {r["recipient"]: r["state"] for r in held} == {"AUS": "forwarded",
                                                          "USA": "dropped"}


def test_onward_with_up_front_consent_to_two_parties(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c, consent_to=["AUS", "USA"])
        shares = [await c.post("JPN", to, received) for to in ("to-AUS", "to-USA")]
        await c.settle()
        for share in shares:
            done = await c.status("JPN", share["id"])
            assert done["success_count"] == 1, done
        assert received["id"] in ids(await c.inbox("AUS"))
        assert received["id"] in ids(await c.inbox("USA"))
    c.run(go())


def test_a_share_failing_at_drain_time_fails_alone(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    c = four(tmp_path)
    real = originating.build_item
    broken: set[str] = set()
    same_ref: set[str] = set()

    def build(ex: Any, item: OutboxItem) -> Any:
        if item.object_id in broken:
            raise RuntimeError("the signer fell over")
        result = real(ex, item)
        if item.object_id in same_ref and isinstance(result, SentDraft):
            return dataclasses.replace(result, ref="one-ref-for-two-shares")
        return result

    monkeypatch.setattr(originating, "build_item", build)

    async def go() -> None:
        m1, m2, m3 = (tisa_marking("極秘", originator="JPN") for _ in range(3))
        bad, twin_a, twin_b, good = (indicator(m["id"]) for m in (m1, m2, m2, m3))
        broken.add(bad["id"])
        same_ref.update({twin_a["id"], twin_b["id"]})
        first = await c.post("JPN", "to-USA", m1, bad)
        await c.settle()
        failed = await c.status("JPN", first["id"])
        assert failed["failure_count"] == 2, failed  # the item, and its marking with it
        assert any("RuntimeError: the signer fell over" in f["message"]
                   for f in failed["failures"])
        twins = await c.post("JPN", "to-USA", m2, twin_a, twin_b)
        later = await c.post("JPN", "to-USA", m3, good)
        await c.settle()
        pair = await c.status("JPN", twins["id"])
        assert pair["success_count"] == 2, pair  # the first twin and the marking
        assert any("another share already uses the reference" in f["message"]
                   for f in pair["failures"])
        assert (await c.status("JPN", later["id"]))["success_count"] == 2
        assert {good["id"], twin_a["id"]} <= ids(await c.inbox("USA"))
        assert not {bad["id"], twin_b["id"]} & ids(await c.inbox("USA"))
    c.run(go())


def test_a_receiver_cannot_share_another_partys_item_as_its_own(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c, consent_to=["USA"])
        mine = tisa_marking("極秘", originator="JPN")
        claimed = copy.deepcopy(received)
        claimed["object_marking_refs"] = [mine["id"]]
        newer = copy.deepcopy(claimed)
        newer["modified"] = "2026-11-02T00:00:00.000Z"
        own_marking_new_version = copy.deepcopy(received)
        own_marking_new_version["modified"] = "2026-11-03T00:00:00.000Z"
        for objects in ((mine, claimed), (mine, newer), (own_marking_new_version,)):
            status = await c.post("JPN", "to-USA", *objects, user="admin")
            [failure] = [f for f in status["failures"] if f["id"] == received["id"]]
            assert "KOR's item" in failure["message"], failure
        await c.settle()
        assert received["id"] not in ids(await c.inbox("USA"))
        # Shared as received, as KOR's item (KOR consented up front), it goes.
        status = await c.post("JPN", "to-USA", received)
        await c.settle()
        assert (await c.status("JPN", status["id"]))["success_count"] == 1
    c.run(go())


def test_an_item_goes_onward_only_from_its_first_recipient(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c, consent_to=["AUS", "JPN"])
        await c.post("JPN", "to-AUS", received)
        await c.settle()
        [at_aus] = [o for o in await c.inbox("AUS") if o["id"] == received["id"]]
        status = await c.post("AUS", "to-JPN", at_aus)
        assert status["failure_count"] == 1, status
        assert "never further" in status["failures"][0]["message"]
        await c.settle()  # refused before any consent request: nothing waits anywhere
        assert desk(c).open_requests() == []
        assert c["AUS"].exchange.store.held_in_state("awaiting") == []
    c.run(go())


def test_hub_log_entries_carry_the_items_version(tmp_path: Path) -> None:
    from datetime import date

    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"], modified="2026-11-05T01:02:03.456789Z")

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
    c.run(go())

    def versions(code: str) -> dict[str, int]:
        log = c[code].exchange.events
        assert isinstance(log, SqlEventLog)
        entries = [parse_entry(data) for _, data in log.reader.entries()]
        return {e.kind: e.item_version for e in entries if e.item_id == item["id"]}

    at_jpn = versions("JPN")["received"]
    assert at_jpn == 1793840523456789  # 2026-11-05T01:02:03.456789Z in microseconds
    assert versions("USA") == {"received": at_jpn, "relayed": at_jpn}
    with c["JPN"].exchange.store.engine.connect() as conn:
        text = conn.execute(select(exchange_received.c.envelope)).scalar_one()
    assert ItemStatement.from_bytes(parse_envelope(text).payload).item_version == \
        item["modified"]
