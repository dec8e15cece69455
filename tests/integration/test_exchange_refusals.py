"""What a node refuses: forged, tampered, replayed, misaddressed, unknown peers,
malformed requests. Nothing refused is stored; peers get opaque answers."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import Cluster, endpoint
from sqlalchemy import update
from stix_samples import indicator, tisa_marking

from tisa.crypto._encoding import canonical_json
from tisa.crypto.batches import BatchReplyStatement, BatchStatement
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement, new_item_statement
from tisa.crypto.signed import sign_statement
from tisa.crypto.statements import sha256_hex
from tisa.exchange.context import now_text
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.exchange_tables import exchange_held
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
        r = await c.client.post(URL, content=b"not json")
        assert r.status_code == 400
        assert set(r.json()) == {"title", "description"}
        for _ in range(2):  # nothing recorded: the same request is malformed, not a replay
            r = await c.client.post(URL, content=unknown_kind)
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
            r = await c.client.post(URL, content=body)
            assert r.status_code == 403
            assert r.json() == {"title": "Forbidden", "description": "the request did not verify"}
        assert await c.inbox("JPN") == []
    c.run(go())


def test_replayed_request_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "JPN", [item_message(c)])

    async def go() -> None:
        first = await c.client.post(URL, content=body)
        assert first.status_code == 200
        reply = BatchReplyStatement.from_bytes(parse_envelope(first.content).payload)
        assert reply.results[0]["outcome"] == "received"
        again = await c.client.post(URL, content=body)
        assert again.status_code == 403
        assert len(await c.inbox("JPN")) == 2  # the object and its re-marking, once
    c.run(go())


def test_request_addressed_to_another_node_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "USA", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "USA", [item_message(c)])

    async def go() -> None:
        r = await c.client.post(URL, content=body)
        assert r.status_code == 403
    c.run(go())


def test_item_naming_a_different_recipient_is_refused_and_logged(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ("KOR", "USA", "JPN"))
    body, _ = sign_request(c["KOR"].exchange, "JPN",
                           [item_message(c, recipient="USA", path=("KOR", "USA"))])

    async def go() -> None:
        r = await c.client.post(URL, content=body)
        assert r.status_code == 200
        result = BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results[0]
        assert result["outcome"] == "refused"
        assert await c.inbox("JPN") == []
    c.run(go())
    assert any("names recipient USA" in r for r in refused_entries(c, "JPN"))


def test_payload_tampered_at_the_hub_is_refused_by_the_recipient(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])
    hub = c["USA"].exchange
    # The hub holds it, but does not forward yet: stop its forwarding for a moment.
    real_tick = hub.store.held_in_state

    async def go() -> None:
        hub.store.held_in_state = lambda state, limit=500, **kw: []  # type: ignore[method-assign]
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [held] = real_tick("forward")
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
        hub.store.held_in_state = real_tick  # type: ignore[method-assign]
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        assert "JPN refused it" in " | ".join(f["message"] for f in done["failures"])
        assert await c.inbox("JPN") == []
    c.run(go())
    assert refused_entries(c, "JPN")
