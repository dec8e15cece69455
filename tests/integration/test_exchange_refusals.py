"""What a node refuses: forged, tampered, replayed, misaddressed, unknown peers,
malformed requests. Nothing refused is stored; peers get opaque answers."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import select, update
from stix_samples import indicator, tisa_marking

from tisa.crypto._encoding import canonical_json
from tisa.crypto.batches import BatchReplyStatement, BatchStatement
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement, new_item_statement
from tisa.crypto.signed import sign_statement
from tisa.crypto.statements import sha256_hex
from tisa.exchange.consent import ConsentDesk
from tisa.exchange.context import now_text
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.exchange_tables import exchange_held, exchange_sent
from tisa.store.sql_event_log import SqlEventLog

URL = endpoint("JPN") + "/exchange/v1/messages"


def item_message(c: Cluster, *, recipient: str = "JPN", path: tuple[str, ...] = ("KOR", "JPN")
                 ) -> dict[str, str]:
    obj = indicator()
    statement = new_item_statement(
        originator="KOR", recipient=recipient, path=path, item_id=obj["id"],
        item_version=obj["modified"], level="SECRET", topics=("nk-missile",),
        created=now_text(), content={"stix": json.dumps(obj)})
    text = sign_statement(statement, c["KOR"].exchange.signing_key).to_json().decode()
    return {"kind": "item", "item": text}


def refused_entries(c: Cluster, code: str) -> list[str]:
    log = c[code].exchange.events
    assert isinstance(log, SqlEventLog)  # the node's durable log, as tisa serve wires it
    entries = [parse_entry(data) for _, data in log.reader.entries()]
    return [e.reason or "" for e in entries if e.kind == "refused"]


def test_malformed_request_is_400_with_an_error_body(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))

    unknown_kind, _ = sign_request(c["KOR"].exchange, "JPN", [{"kind": "gossip"}])

    async def go() -> None:
        r = await c.client.post(URL, content=b"not json", headers=PEER_HEADERS)
        assert r.status_code == 400
        assert set(r.json()) == {"title", "description"}
        for _ in range(2):  # nothing recorded: the same request is malformed, not a replay
            r = await c.client.post(URL, content=unknown_kind, headers=PEER_HEADERS)
            assert r.status_code == 400, r.text
    c.run(go())


def test_forged_signature_and_unknown_peer_are_403_opaque(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    batch = BatchStatement(sender="KOR", receiver="JPN", sent_at=now_text(), nonce="0" * 32,
                           messages=(item_message(c),))
    forged = sign_statement(batch, Ed25519PrivateKey.generate()).to_json()
    stranger = BatchStatement(sender="AUS", receiver="JPN", sent_at=now_text(),
                              nonce="1" * 32, messages=(item_message(c),))
    unknown = sign_statement(stranger, Ed25519PrivateKey.generate()).to_json()

    async def go() -> None:
        for body in (forged, unknown):
            r = await c.client.post(URL, content=body, headers=PEER_HEADERS)
            assert r.status_code == 403
            assert r.json() == {"title": "Forbidden", "description": "the request did not verify"}
        assert await c.inbox("JPN") == []
    c.run(go())


def test_replayed_request_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "JPN", [item_message(c)])

    async def go() -> None:
        first = await c.client.post(URL, content=body, headers=PEER_HEADERS)
        assert first.status_code == 200
        reply = BatchReplyStatement.from_bytes(parse_envelope(first.content).payload)
        assert reply.results[0]["outcome"] == "received"
        again = await c.client.post(URL, content=body, headers=PEER_HEADERS)
        assert again.status_code == 403
        assert len(await c.inbox("JPN")) == 2  # the object and its re-marking, once
    c.run(go())


def test_request_addressed_to_another_node_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "USA", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "USA", [item_message(c)])

    async def go() -> None:
        r = await c.client.post(URL, content=body, headers=PEER_HEADERS)
        assert r.status_code == 403
    c.run(go())


def test_item_naming_a_different_recipient_is_refused_and_logged(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "USA", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "JPN",
                           [item_message(c, recipient="USA", path=("KOR", "USA"))])

    async def go() -> None:
        r = await c.client.post(URL, content=body, headers=PEER_HEADERS)
        assert r.status_code == 200
        result = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results[0]
        assert result["outcome"] == "refused"
        assert await c.inbox("JPN") == []
    c.run(go())
    assert any("names recipient USA" in r for r in refused_entries(c, "JPN"))


def test_payload_tampered_at_the_hub_is_refused_by_the_recipient(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])
    hub, kor = c["USA"].exchange, c["KOR"]

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()  # held at the hub, awaiting KOR's consent
        desk = ConsentDesk(party="KOR", store=kor.exchange.store,
                           signing_key=kor.exchange.signing_key)
        [request] = desk.open_requests()
        desk.approve(request["id"])
        assert kor.worker is not None
        await kor.worker.run_once()  # the consent reaches the hub, which has not forwarded
        [held] = hub.store.held_in_state("forward")
        envelope = parse_envelope(held["envelope"])
        statement = ItemStatement.from_bytes(envelope.payload)
        content = json.loads(str(statement.content["stix"]))  # type: ignore[index]
        content["name"] = "changed by the hub"
        changed = {"stix": json.dumps(content)}
        tampered = dataclasses.replace(statement, content=changed,
                                       content_sha256=sha256_hex(canonical_json(changed)))
        forged = json.loads(held["envelope"])
        forged["payload"] = base64.b64encode(tampered.to_bytes()).decode()
        with hub.store.engine.begin() as conn:
            conn.execute(update(exchange_held).values(envelope=json.dumps(forged)))
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        assert "JPN refused it" in " | ".join(f["message"] for f in done["failures"])
        assert await c.inbox("JPN") == []
    c.run(go())
    assert refused_entries(c, "JPN")


def reply_results(r: httpx.Response) -> tuple[dict[str, Any], ...]:
    assert r.status_code == 200, r.text
    return BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results


def test_a_peer_request_must_be_json(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))

    async def go() -> None:
        for headers in ({"Content-Type": "text/plain"}, {},
                        {"Content-Type": "application/json; charset=latin-1"}):
            body, _ = sign_request(c["KOR"].exchange, "JPN", [item_message(c)])
            r = await c.client.post(URL, content=body, headers=headers)
            assert r.status_code == 415, (headers, r.text)
            assert r.json()["title"] == "Unsupported Media Type"
            assert "application/json" in r.json()["description"]
        assert await c.inbox("JPN") == []
        body, _ = sign_request(c["KOR"].exchange, "JPN", [item_message(c)])
        r = await c.client.post(URL, content=body,
                                headers={"Content-Type": "Application/JSON; charset=UTF-8"})
        assert reply_results(r)[0]["outcome"] == "received"
    c.run(go())


def test_an_item_whose_content_is_not_json_is_refused_alone(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    statement = new_item_statement(
        originator="KOR", recipient="JPN", path=("KOR", "JPN"),
        item_id="indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", item_version="v",
        level="SECRET", topics=("nk-missile",), created=now_text(),
        content={"stix": "not json"})
    broken = sign_statement(statement, c["KOR"].exchange.signing_key).to_json().decode()
    body, _ = sign_request(c["KOR"].exchange, "JPN",
                           [{"kind": "item", "item": broken}, item_message(c)])

    async def go() -> None:
        refused, received = reply_results(
            await c.client.post(URL, content=body, headers=PEER_HEADERS))
        assert refused["outcome"] == "refused"
        assert "content stix: not valid JSON" in str(refused["reason"])
        assert received["outcome"] == "received"
        assert len(await c.inbox("JPN")) == 2  # the good one, and its re-marking
    c.run(go())
    assert any("content stix" in r for r in refused_entries(c, "JPN"))


def test_malformed_consent_requests_are_refused_naming_the_field(tmp_path: Path) -> None:
    """JPN (holder of a KOR item) asks KOR for consent to pass it on, in forms that are
    signed but malformed: each is refused with its reason, none is stored."""
    c = Cluster(tmp_path, ("KOR", "JPN"))
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        with c["KOR"].exchange.store.engine.connect() as conn:
            sent = conn.execute(select(exchange_sent)).mappings().one()
        good = {"kind": "consent-request", "request_id": "5d0c8f53-1c1e-4c4b-9a55-3c3f5e0b2d11",
                "envelope_sha256": sent["envelope_sha256"], "item_id": item["id"],
                "item_version": item["modified"], "recipient": "USA",
                "requested_at": "2026-01-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z"}
        bad: list[tuple[dict[str, Any], str]] = [
            ({"requested_at": "garbage"}, "requested_at: 'garbage' is not an RFC 3339 time"),
            ({"expires_at": "2025-01-01T00:00:00Z"}, "expires_at: 2025-01-01T00:00:00Z is not "
             "after requested_at"),
            ({"request_id": ["x"]}, "request_id: must be a string, not a list"),
            ({"request_id": "r1"}, "request_id: 'r1' is not a UUID"),
            ({"item_version": {"a": 1}}, "item_version: must be a string, not an object"),
            ({"item_version": "v" * 65}, "item_version: 65 characters; at most 64"),
            ({"item_version": "2001-01-01T00:00:00.000Z"}, "is not the version sent"),
            ({"item_id": "x"}, "item_id: 'x' is not a STIX identifier"),
            ({"recipient": "not a code!!"}, "recipient: 'not a code!!' is not a party code"),
            ({"recipient": "AUS"}, "recipient AUS is not a party in KOR's network"),
            ({"envelope_sha256": "A" * 64}, "envelope_sha256: " + repr("A" * 64)[:10]),
            ({"holder": "JPN"}, "unknown field(s) 'holder'"),
        ]
        messages = [{**good, **change} for change, _ in bad]
        messages.append({k: v for k, v in good.items() if k != "expires_at"})
        messages.append({"kind": "dropped", "envelope_sha256": 5})
        body, _ = sign_request(c["JPN"].exchange, "KOR", messages)
        r = await c.client.post(endpoint("KOR") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        results = reply_results(r)
        expected = [why for _, why in bad] + ["missing field(s) expires_at",
                                              "envelope_sha256: must be a string, not a number"]
        for result, why in zip(results, expected, strict=True):
            assert result["outcome"] == "refused", (why, result)
            assert why in str(result["reason"]), (why, result)
        assert c["KOR"].exchange.store.consent_requests(state=None) == []
        assert len(refused_entries(c, "KOR")) == len(expected)
        # The well-formed request is taken, once, even when it comes again.
        for _ in range(2):
            body, _ = sign_request(c["JPN"].exchange, "KOR", [good])
            r = await c.client.post(endpoint("KOR") + "/exchange/v1/messages", content=body,
                                    headers=PEER_HEADERS)
            assert reply_results(r)[0] == {"outcome": "accepted"}
        assert len(c["KOR"].exchange.store.consent_requests()) == 1
    c.run(go())


def test_consent_requests_for_ended_shares_or_twice_open_are_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])
    kor = c["KOR"].exchange

    def ask(request_id: str) -> dict[str, Any]:
        [held] = c["USA"].exchange.store.held_in_state("awaiting")
        return {"kind": "consent-request", "request_id": request_id,
                "envelope_sha256": held["envelope_sha256"], "item_id": item["id"],
                "item_version": held["item_version"], "recipient": "JPN",
                "requested_at": now_text(), "expires_at": "2099-01-01T00:00:00Z"}

    async def send(message: dict[str, Any]) -> dict[str, Any]:
        body, _ = sign_request(c["USA"].exchange, "KOR", [message])
        r = await c.client.post(endpoint("KOR") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        return dict(reply_results(r)[0])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [first] = kor.store.consent_requests()
        assert await send(ask(first["id"])) == {"outcome": "accepted"}  # a retry: no change
        second = await send(ask("0b6c3d2e-51a4-4f7e-8d9a-6e2f1c0b3a45"))
        assert second["outcome"] == "refused"
        assert f"consent request {first['id']} for this envelope" in str(second["reason"])
        assert [r["id"] for r in kor.store.consent_requests()] == [first["id"]]
        ConsentDesk(party="KOR", store=kor.store, signing_key=kor.signing_key).deny(first["id"])
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        late = await send(ask("7a1e9c4b-2d3f-4e5a-8b6c-9d0e1f2a3b4c"))
        assert late["outcome"] == "refused"
        assert "has already ended (failure)" in str(late["reason"])
        assert kor.store.consent_requests() == []
    c.run(go())


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_an_oversized_peer_request_is_cut_off_while_it_streams(server: Server) -> None:
    """256 MiB chunked (no Content-Length) at a node whose cap is 10 MiB: 413, and the
    node's peak memory does not grow by anything like the body."""
    pid = server.process.pid
    before = _peak_rss_kib(pid)

    def chunks() -> Iterator[bytes]:
        piece = b" " * (1 << 20)
        for _ in range(256):
            yield piece

    r = httpx.post(server.url + "/exchange/v1/messages", content=chunks(),
                   headers=PEER_HEADERS, timeout=120)
    assert r.status_code == 413
    assert r.json() == {"title": "Content Too Large", "description": "the request is too large"}
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB"
