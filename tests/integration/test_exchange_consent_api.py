"""The consent desk over the node's HTTP API (admin users), and idempotent re-delivery:
the same envelope delivered twice is stored once and answered with the same receipt."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from conftest import auth
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import func, select
from stix_samples import indicator, tisa_marking

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.exchange.protocol import sign_request
from tisa.store.exchange_tables import exchange_received, exchange_sent

KOR = endpoint("KOR") + "/exchange/v1/consent/"


def test_consent_over_http_for_admins_only(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        assert (await c.client.get(KOR)).status_code == 401
        assert (await c.client.get(KOR, auth=auth("analyst"))).status_code == 403
        r = await c.client.get(KOR, auth=auth("admin"))
        assert r.status_code == 200
        [request] = r.json()["requests"]
        assert set(request) == {"id", "item", "originator", "holder", "recipient",
                                "requested_at", "expires_at"}
        assert (await c.client.post(KOR + "nope/approve", auth=auth("admin"))).status_code == 404
        r = await c.client.post(f"{KOR}{request['id']}/approve", auth=auth("admin"))
        assert r.status_code == 200 and r.json()["decision"] == "approve"
        again = await c.client.post(f"{KOR}{request['id']}/deny", auth=auth("admin"),
                                    json={"reason": "changed my mind"})
        assert again.status_code == 409
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
    c.run(go())


def test_same_envelope_twice_is_stored_once_with_the_same_receipt(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        with c["KOR"].exchange.store.engine.connect() as conn:
            sent = conn.execute(select(exchange_sent)).mappings().one()
        body, _ = sign_request(c["KOR"].exchange, "JPN",
                               [{"kind": "item", "item": sent["envelope"]}])
        r = await c.client.post(endpoint("JPN") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        result = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results[0]
        assert result == {"outcome": "received", "receipt": sent["receipt"]}
        assert [o["id"] for o in await c.inbox("JPN")].count(item["id"]) == 1
        with c["JPN"].exchange.store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(exchange_received)
                                ).scalar_one() == 1
    c.run(go())


def test_consent_answers_take_only_their_documented_bodies(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = (await c.client.get(KOR, auth=auth("admin"))).json()["requests"]
        deny, approve = f"{KOR}{request['id']}/deny", f"{KOR}{request['id']}/approve"
        bad = [
            (deny, b"[1, 2]", "must be a JSON object"),
            (deny, b'{"reasn": "typo"}', "unknown field(s) 'reasn'"),
            (deny, b'{"reason": 5}', "reason: must be a string, not a number"),
            (deny, json.dumps({"reason": "x" * 1001}).encode(), "at most 1000"),
            (deny, b"{not json", "not valid JSON"),
            (approve, b'{"reason": "why"}', "unknown field(s) 'reason'"),
            (approve, b"null", "must be a JSON object"),
        ]
        for url, body, why in bad:
            r = await c.client.post(url, content=body, auth=auth("admin"),
                                    headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (body, r.text)
            assert set(r.json()) == {"title", "description"}
            assert why in r.json()["description"], (body, r.text)
        huge = await c.client.post(deny, content=b" " * (11 * 1024 * 1024), auth=auth("admin"))
        assert huge.status_code == 413
        assert [r["id"] for r in c["KOR"].exchange.store.consent_requests()] == [request["id"]]
        r = await c.client.post(deny, json={"reason": "not for JPN"}, auth=auth("admin"))
        assert r.status_code == 200 and r.json() == {"id": request["id"], "decision": "deny"}
        done = await c.status("KOR", status["id"])
        assert "not for JPN" in " | ".join(f["message"] for f in done["failures"]), done
    c.run(go())


def test_admin_denies_over_http_with_a_reason(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = (await c.client.get(KOR, auth=auth("admin"))).json()["requests"]
        url = f"{KOR}{request['id']}/deny"
        assert (await c.client.post(url, auth=auth("analyst"))).status_code == 403
        # Bodies that are not {"reason": "<text>"} (or text a signed consent cannot
        # carry) are a 400 with an error body, and change nothing.
        for body in (b"[1]", b'{"reason": 5}', b"not json", b'{"reason": "\\ud800"}'):
            bad = await c.client.post(url, auth=auth("admin"), content=body)
            assert bad.status_code == 400, (body, bad.text)
            assert set(bad.json()) == {"title", "description"}
        assert len((await c.client.get(KOR, auth=auth("admin"))).json()["requests"]) == 1
        r = await c.client.post(url, auth=auth("admin"), json={"reason": "source protection"})
        assert r.status_code == 200, r.text
        assert r.json() == {"id": request["id"], "decision": "deny"}
        assert (await c.client.get(KOR, auth=auth("admin"))).json()["requests"] == []
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        failures = " | ".join(f["message"] for f in done["failures"])
        assert "denied consent" in failures and "source protection" in failures, failures
        [held] = c["USA"].exchange.store.held_in_state("dropped")
        assert held["item_id"] == item["id"]
        assert await c.inbox("JPN") == []
    c.run(go())
