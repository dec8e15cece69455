"""What the originator's TAXII status says when something does not go through: who
refused it and why (a rule's reason; a verification failure stays opaque), a refused
consent or consent request settled at once, and the last delivery error while a share
keeps retrying."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

from conftest import NETWORK
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import Cluster, keyed_network
from sqlalchemy import update
from stix_samples import indicator, tisa_marking

from tisa.api.sharing import load_node_network
from tisa.config import node_public_key, node_seal_public_key
from tisa.exchange.consent import ConsentDesk
from tisa.store.exchange_tables import exchange_held

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force (relay via USA), the KOR-JPN GSOMIA not yet
GSOMIA = date(2017, 6, 1)


def messages(status: dict[str, Any], key: str) -> str:
    return " | ".join(e["message"] for e in status.get(key) or [])


def item_message(status: dict[str, Any], item_id: str) -> str:
    for key in ("successes", "failures", "pendings"):
        for entry in status.get(key) or []:
            if entry["id"] == item_id:
                return str(entry["message"])
    raise AssertionError(f"{item_id} not in {status}")


def desk(c: Cluster, code: str = "KOR") -> ConsentDesk:
    ex = c[code].exchange
    return ConsentDesk(party=code, store=ex.store, signing_key=ex.signing_key)


def test_relay_refused_by_the_recipient_names_it_and_the_rule(tmp_path: Path) -> None:
    """A hub that forwards without consent (here: its held row is moved on by hand) is
    refused by JPN; KOR's status names JPN and the rule, not just 'item refused'."""
    c = Cluster(tmp_path, as_of={k: BEFORE_GSOMIA for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        with c["USA"].exchange.store.engine.begin() as conn:
            conn.execute(update(exchange_held).values(state="forward"))
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        text = item_message(done, item["id"])
        assert "JPN refused it" in text and "relayed by USA without any consent" in text, text
        assert await c.inbox("JPN") == []
    c.run(go())


def test_relay_refused_by_the_recipients_route_recheck_says_why(tmp_path: Path) -> None:
    """JPN re-checks the route on its own day (before TISA was in force): refused, and
    KOR's status names JPN and the agreement that is not in force."""
    c = Cluster(tmp_path, as_of={"KOR": BEFORE_GSOMIA, "USA": BEFORE_GSOMIA,
                                 "JPN": date(2014, 6, 1)})
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        done = await c.status("KOR", status["id"])
        text = item_message(done, item["id"])
        assert "JPN refused it" in text, text
        assert "not allowed on 2014-06-01" in text and "tisa: not in force" in text, text
    c.run(go())


def test_consent_refused_by_the_hub_ends_the_share_at_once(tmp_path: Path) -> None:
    """KOR approves, but the hub holds nothing for that request any more (here: its held
    row's request id changed by hand): the hub refuses KOR's consent, and KOR's share
    ends now with the hub's reason instead of staying pending."""
    c = Cluster(tmp_path, as_of={k: BEFORE_GSOMIA for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = desk(c).open_requests()
        with c["USA"].exchange.store.engine.begin() as conn:
            conn.execute(update(exchange_held).values(request_id="lost"))
        desk(c).approve(request["id"])
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        text = item_message(done, item["id"])
        assert f"USA refused KOR's consent {request['id']}" in text, text
        assert "matches no item held at USA" in text, text
    c.run(go())


def test_consent_request_refused_by_the_originator_ends_the_onward_share(
        tmp_path: Path) -> None:
    """JPN shares KOR's item on to AUS, a party KOR's own network file does not list:
    KOR refuses JPN's consent request, and JPN's share fails at once with KOR's reason —
    not 'expired unanswered' a consent TTL later. (AUS passing on what JPN passed to it
    is refused before any consent request is sent: test_exchange_onward_many.)"""
    from test_exchange_onward import network_with_aus

    c = Cluster(tmp_path, ("KOR", "USA", "JPN", "AUS"), network=network_with_aus(),
                as_of={k: GSOMIA for k in ("KOR", "USA", "JPN", "AUS")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [got] = [o for o in await c.inbox("JPN") if o["id"] == item["id"]]
        kor = c["KOR"].exchange  # KOR's network file, now without AUS
        without_aus = tmp_path / "kor-network-without-aus.toml"
        without_aus.write_text(keyed_network(NETWORK.read_text(), {
            code: (node_public_key(c[code].home), node_seal_public_key(c[code].home))
            for code in ("KOR", "USA", "JPN")}))
        kor.network = load_node_network(without_aus, "KOR")
        share = await c.post("JPN", "to-AUS", got)
        await c.settle()
        done = await c.status("JPN", share["id"])
        assert done["failure_count"] == 1, done
        text = item_message(done, item["id"])
        assert "KOR refused the consent request" in text, text
        assert "AUS is not a party in KOR's network" in text, text
        assert c["JPN"].exchange.store.held_in_state("awaiting") == []
        assert desk(c).open_requests() == []
    c.run(go())


SMALL_LIMIT = 64 * 1024


def big_indicator(marking_id: str, size: int) -> dict[str, Any]:
    obj = indicator(marking_id, name="a large telemetry dump")
    obj["description"] = "x" * size
    return obj


def test_item_too_large_to_travel_fails_when_signed_and_the_rest_is_delivered(
        tmp_path: Path) -> None:
    """Base64 twice on the wire: a 40 KB object posts fine under a 64 KiB limit but cannot
    travel; it fails with the reason at once, and the small one beside it is delivered."""
    c = Cluster(tmp_path, ("KOR", "JPN"), as_of={"KOR": GSOMIA, "JPN": GSOMIA},
                max_content_length={"KOR": SMALL_LIMIT, "JPN": SMALL_LIMIT})
    marking = tisa_marking("SECRET")
    big, small = big_indicator(marking["id"], 40_000), indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, big, small)
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert (done["success_count"], done["failure_count"]) == (2, 1), done
        text = item_message(done, big["id"])
        assert "too large to travel" in text and f"{SMALL_LIMIT}-byte limit" in text, text
        assert {o["id"] for o in await c.inbox("JPN")} >= {small["id"]}
        assert big["id"] not in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())


def test_peer_answering_413_shows_in_the_status_and_only_the_oversized_item_fails(
        tmp_path: Path) -> None:
    """JPN takes less than KOR assumes: the batch of both items gets 413; both stay
    pending and say so; then each goes alone: the small one is delivered, the large one
    fails for good with JPN's answer (never retried forever, never taking others down)."""
    c = Cluster(tmp_path, ("KOR", "JPN"), as_of={"KOR": GSOMIA, "JPN": GSOMIA},
                max_content_length={"JPN": SMALL_LIMIT})
    marking = tisa_marking("SECRET")
    big, small = big_indicator(marking["id"], 60_000), indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, big, small)
        worker = c["KOR"].worker
        assert worker is not None
        await worker.run_once()  # signed, sent in one batch: 413
        waiting = await c.status("KOR", status["id"])
        assert waiting["pending_count"] == 3, waiting
        for obj in (big, small):
            text = item_message(waiting, obj["id"])
            assert text.startswith("awaiting delivery to JPN: attempt 1 failed: JPN answered "
                                   "413 Content Too Large"), text
            assert "next try in" in text, text
        for _ in range(3):
            await asyncio.sleep(0.5)  # the retry's backoff
            await c.settle()
        done = await c.status("KOR", status["id"])
        assert (done["success_count"], done["failure_count"]) == (2, 1), done
        text = item_message(done, big["id"])
        assert text.startswith("not delivered to JPN: JPN answered 413"), text
        assert "even alone; not retried" in text, text
        assert small["id"] in {o["id"] for o in await c.inbox("JPN")}
        assert c["KOR"].exchange.store.pending_messages() == 0
    c.run(go())


def test_unreachable_peer_shows_the_last_error_in_the_pending_status(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"), as_of={"KOR": GSOMIA, "JPN": GSOMIA})
    ex = c["KOR"].exchange
    ex.peers = {**ex.peers, "JPN": dataclasses.replace(ex.peers["JPN"],
                                                       endpoint="http://127.0.0.1:9")}
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        worker = c["KOR"].worker
        assert worker is not None
        await worker.run_once()
        await asyncio.sleep(0.5)
        await worker.run_once()
        waiting = await c.status("KOR", status["id"])
        assert waiting["pending_count"] == 2, waiting
        text = item_message(waiting, item["id"])
        assert text.startswith("awaiting delivery to JPN: attempt 2 failed: no answer from "
                               "JPN: "), text
        assert "next try in" in text, text
    c.run(go())


def test_a_message_the_peer_keeps_rejecting_is_given_up_with_the_reason(
        tmp_path: Path) -> None:
    """JPN does not know KOR's key (403 on every request): after ``max_rejections`` in a
    row the share fails with JPN's answer instead of staying pending forever."""
    c = Cluster(tmp_path, ("KOR", "JPN"), as_of={"KOR": GSOMIA, "JPN": GSOMIA})
    jpn = c["JPN"].exchange
    stranger = Ed25519PrivateKey.generate().public_key()
    jpn.peers = {**jpn.peers, "KOR": dataclasses.replace(jpn.peers["KOR"],
                                                         public_key=stranger)}
    kor = c["KOR"].exchange
    kor.settings = dataclasses.replace(kor.settings, max_rejections=3,
                                       backoff_base_seconds=0.05)
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        for _ in range(4):
            await c.settle()
            await asyncio.sleep(0.3)
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        text = item_message(done, item["id"])
        assert text.startswith("not delivered to JPN: JPN rejected it 3 times in a row, "
                               "last: JPN answered 403 Forbidden"), text
        assert kor.store.pending_messages() == 0
    c.run(go())


def test_a_signature_failure_stays_opaque_to_the_peer(tmp_path: Path) -> None:
    """A rule's refusal says why; an item whose signature does not verify gets only the
    generic 'envelope did not verify' (the detail is in JPN's log)."""
    import json

    from exchange_cluster import endpoint

    from tisa.crypto.batches import BatchReplyStatement
    from tisa.crypto.dsse import parse_envelope
    from tisa.crypto.items import new_item_statement
    from tisa.crypto.signed import sign_statement
    from tisa.exchange.context import now_text
    from tisa.exchange.protocol import sign_request

    c = Cluster(tmp_path, ("KOR", "USA", "JPN"), as_of={k: GSOMIA for k in ("KOR", "USA", "JPN")})

    def item(key: Ed25519PrivateKey, recipient: str) -> dict[str, str]:
        obj = indicator()
        statement = new_item_statement(
            originator="KOR", recipient=recipient, path=("KOR", recipient),
            item_id=obj["id"], item_version=obj["modified"], level="SECRET",
            topics=("nk-missile",), created=now_text(), content={"stix": json.dumps(obj)})
        return {"kind": "item", "item": sign_statement(statement, key).to_json().decode()}

    forged = item(Ed25519PrivateKey.generate(), "JPN")
    misaddressed = item(c["KOR"].exchange.signing_key, "USA")
    body, _ = sign_request(c["KOR"].exchange, "JPN", [forged, misaddressed])

    async def go() -> None:
        r = await c.client.post(endpoint("JPN") + "/exchange/v1/messages", content=body,
                                headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        results = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results
        assert results[0] == {"outcome": "refused", "reason": "envelope did not verify"}
        assert results[1]["outcome"] == "refused"
        assert "names recipient USA, not JPN" in str(results[1]["reason"])
    c.run(go())
