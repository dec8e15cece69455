"""Onward sharing under the third-party rule: JPN passes a KOR item it received on to
AUS only with KOR's signed consent (and a JPN-AUS agreement), never relayed further."""

from __future__ import annotations

from pathlib import Path

from conftest import NETWORK
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import select
from stix_samples import indicator, tisa_marking

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.exchange.consent import ConsentDesk
from tisa.exchange.protocol import sign_request
from tisa.store.exchange_tables import exchange_received

AUS = '''
[parties.AUS]
name = "Australia"
levels = { CONFIDENTIAL = "CONFIDENTIAL", SECRET = "SECRET", "TOP SECRET" = "TOP SECRET" }

[agreements.jpn-aus-isa]
kind = "bilateral"
parties = ["JPN", "AUS"]
max_level = "SECRET"
topics = ["*"]
in_force = 2012-05-17
'''


def network_with_aus() -> str:
    base = NETWORK.read_text()
    head, sep, rest = base.partition("[agreements.")
    return head + AUS.split("[agreements.")[0] + sep + rest + "\n[agreements." + \
        AUS.split("[agreements.")[1]


def four(tmp: Path) -> Cluster:
    return Cluster(tmp, ("KOR", "USA", "JPN", "AUS"), network=network_with_aus())


def desk(c: Cluster) -> ConsentDesk:
    ex = c["KOR"].exchange
    return ConsentDesk(party="KOR", store=ex.store, signing_key=ex.signing_key)


async def deliver_to_jpn(c: Cluster, **marking_extra: object) -> dict[str, object]:
    marking = tisa_marking("SECRET", **marking_extra)
    item = indicator(marking["id"])
    status = await c.post("KOR", "to-JPN", marking, item)
    await c.settle()
    assert (await c.status("KOR", status["id"]))["success_count"] == 2
    [received] = [o for o in await c.inbox("JPN") if o["id"] == item["id"]]
    return received


def test_onward_with_consent_reaches_aus(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c)
        status = await c.post("JPN", "to-AUS", received)
        assert "consent from KOR" in status["pendings"][0]["message"], status
        await c.settle()
        [request] = desk(c).open_requests()
        assert (request["holder"], request["recipient"]) == ("JPN", "AUS")
        desk(c).approve(request["id"])
        await c.settle()
        done = await c.status("JPN", status["id"])
        assert done["success_count"] == 1, done
        assert received["id"] in {o["id"] for o in await c.inbox("AUS")}
    c.run(go())
    with c["AUS"].exchange.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received)).mappings().one()
    assert row["sender"] == "JPN" and row["originator"] == "KOR" and row["consent"]


def test_onward_without_consent_is_refused(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c)
        status = await c.post("JPN", "to-AUS", received)
        await c.settle()
        [request] = desk(c).open_requests()
        desk(c).deny(request["id"], reason="not for AUS")
        await c.settle()
        done = await c.status("JPN", status["id"])
        assert done["failure_count"] == 1, done
        assert "not for AUS" in done["failures"][0]["message"]
        assert await c.inbox("AUS") == []
        # JPN's node cannot skip the consent either: AUS refuses KOR's envelope without it.
        with c["JPN"].exchange.store.engine.connect() as conn:
            text = conn.execute(select(exchange_received.c.envelope)).scalar_one()
        body, _ = sign_request(c["JPN"].exchange, "AUS", [{"kind": "item", "item": text}])
        r = await c.client.post(endpoint("AUS") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        result = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results[0]
        assert result["outcome"] == "refused"
        assert await c.inbox("AUS") == []
    c.run(go())


def test_up_front_consent_lets_jpn_share_onward_at_once(tmp_path: Path) -> None:
    c = four(tmp_path)

    async def go() -> None:
        received = await deliver_to_jpn(c, consent_to=["AUS"])
        status = await c.post("JPN", "to-AUS", received)
        await c.settle()
        assert desk(c).open_requests() == []
        assert (await c.status("JPN", status["id"]))["success_count"] == 1
        assert received["id"] in {o["id"] for o in await c.inbox("AUS")}
    c.run(go())
