"""The hub's prior-consent path (the forward queued with the hold, in the request that
brought the item): two requests bringing the same envelope at once, and a fault while
building the forward. Real nodes in one process; the doubles are real implementations of
the hub's ports (its clock, its signing key)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from stix_samples import indicator, tisa_marking

from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.statements import RelayStatement
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.sql_event_log import SqlEventLog

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force, the KOR-JPN GSOMIA not yet


def cluster(tmp: Path) -> Cluster:
    return Cluster(tmp, as_of={c: BEFORE_GSOMIA for c in ("KOR", "USA", "JPN")})


class PausingClock:
    """A node's ``today``: once armed, the next reading waits until ``resume()`` (the
    request that reads it is held up mid-way, after its "held?" read)."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.armed = False
        self.paused, self.go = threading.Event(), threading.Event()
        self.lock = threading.Lock()

    def __call__(self) -> date:
        with self.lock:
            wait, self.armed = self.armed, False
        if wait:
            self.paused.set()
            assert self.go.wait(30), "never resumed"
        return self.day


class RelaySigner(Ed25519PrivateKey):
    """A node key (as in a signing device) that fails on relay statements only."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key

    def sign(self, data: bytes) -> bytes:
        if RelayStatement.PAYLOAD_TYPE.encode() in data:
            raise OSError("the signing device did not answer")
        return self.key.sign(data)

    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def private_bytes(self, encoding: serialization.Encoding,
                      format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption
                      ) -> bytes:
        return self.key.private_bytes(encoding, format, encryption_algorithm)

    def private_bytes_raw(self) -> bytes:
        return self.key.private_bytes_raw()

    def __copy__(self) -> RelaySigner:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RelaySigner:
        return self


async def queued_to_usa(c: Cluster, *objects: dict[str, Any]
                        ) -> tuple[str, list[dict[str, Any]]]:
    """KOR's status for ``objects`` and its messages to USA for them, signed and queued,
    not sent."""
    status = await c.post("KOR", "to-JPN", *objects)
    worker = c["KOR"].worker
    assert worker is not None
    await asyncio.to_thread(worker._local_work)
    due = c["KOR"].exchange.store.due_messages(10, peer="USA")
    return str(status["id"]), [json.loads(m["body"]) for m in due]


def sender(c: Cluster, messages: list[dict[str, Any]]
           ) -> Callable[[], Coroutine[Any, Any, list[dict[str, Any]]]]:
    """A coroutine function that sends ``messages`` from KOR to USA in one request."""
    async def send() -> list[dict[str, Any]]:
        body, _ = sign_request(c["KOR"].exchange, "USA", messages)
        r = await c.client.post(endpoint("USA") + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        assert r.status_code == 200, r.text
        return list(BatchReplyStatement.from_bytes(parse_envelope(r.content).payload).results)
    return send


def usa_log_kinds(c: Cluster) -> list[str]:
    events = c["USA"].exchange.events
    assert isinstance(events, SqlEventLog)
    return [parse_entry(d).kind for _, d in events.reader.entries()]


def test_a_concurrent_redelivery_is_logged_received_and_relayed_once(tmp_path: Path) -> None:
    """KOR's retry after a timeout reaches USA while the first request is still in its
    transaction: both read "not held"; one hold wins at the commit, one forward is
    queued, and USA's log says once that it received and relayed the envelope."""
    c = cluster(tmp_path)
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    usa = c["USA"].exchange
    clock = usa.today = PausingClock(BEFORE_GSOMIA)

    async def go() -> None:
        _, [due] = await queued_to_usa(c, marking, indicator(marking["id"]))
        send = sender(c, [due])
        clock.armed = True
        retry = asyncio.create_task(send())  # reads "not held", then waits on the clock
        assert await asyncio.to_thread(clock.paused.wait, 30)
        [first] = await send()  # the first request runs and commits meanwhile
        clock.go.set()
        [second] = await retry
        assert first["outcome"] == second["outcome"] == "held", (first, second)
        assert len(usa.store.due_messages(10, peer="JPN")) == 1  # one forward queued
        kinds = usa_log_kinds(c)
        assert kinds.count("received") == 1 and kinds.count("relayed") == 1, kinds
    c.run(go())


def test_a_fault_building_a_prior_consent_forward_refuses_that_item_only(
        tmp_path: Path) -> None:
    """An unexpected error while the hub builds a forward on prior consent (its signing
    device fails) refuses that item, with a reason KOR sees; the request is answered
    (not a 500 that would have KOR retry the whole batch for ever) and the other item
    of the batch is held as usual."""
    c = cluster(tmp_path)
    prior, asked = tisa_marking("SECRET", consent_to=["JPN"]), tisa_marking("SECRET")
    usa = c["USA"].exchange
    usa.signing_key = RelaySigner(usa.signing_key)

    async def go() -> None:
        status_id, messages = await queued_to_usa(c, prior, indicator(prior["id"]), asked,
                                       indicator(asked["id"]))
        assert len(messages) == 2
        results = await sender(c, messages)()
        by_outcome = {r["outcome"]: r for r in results}
        assert set(by_outcome) == {"refused", "held"}, results
        assert by_outcome["refused"]["reason"] == (
            "USA could not forward it (OSError; see USA's log)")
        assert "awaits KOR's answer" in by_outcome["held"]["detail"]
        assert usa.store.due_messages(10, peer="JPN") == []
        assert len(usa.store.held_in_state("awaiting")) == 1
        assert usa.store.held_in_state("forwarded") == []
        kinds = usa_log_kinds(c)
        assert kinds.count("refused") == 1 and kinds.count("relayed") == 0, kinds
        await c.settle()  # KOR's worker sends them (again) and takes USA's answers
        status = await c.status("KOR", status_id)
        assert [f["message"] for f in status["failures"]] == [
            "refused by USA: USA could not forward it (OSError; see USA's log)"], status
        assert any("awaits KOR's answer" in p["message"] for p in status["pendings"]), status
    c.run(go())
