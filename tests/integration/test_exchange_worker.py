"""The delivery worker as ``tisa serve`` runs it (``DeliveryWorker.run``): signing and
sending pipelined, several batches on the wire per peer, messages to former peers
retried with backoff. In-process nodes; the workers' real loops."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from exchange_cluster import Cluster, endpoint
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Receive, Scope, Send
from stix_samples import indicator, tisa_marking

from tisa.exchange.worker import DeliveryWorker
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.exchange_tables import exchange_messages, exchange_received


class ConcurrencyMeter:
    """An ASGI wrapper counting how many peer requests a node serves at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.now, self.most, self.requests = app, 0, 0, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope["type"] == "http" and scope["path"] == "/exchange/v1/messages"
        if peer:
            self.now += 1
            self.requests += 1
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            if peer:
                self.now -= 1


async def run_workers(c: Cluster, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    tasks = []
    for node in c.nodes.values():
        assert node.worker is not None
        tasks.append(asyncio.create_task(node.worker.run(stop)))
    await asyncio.sleep(0)  # let each worker install its wake-up before the first POST
    return tasks


async def wait_for(c: Cluster, status_id: str, want: int, seconds: float = 90) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status = await c.status("KOR", status_id)
        assert status["failure_count"] == 0, status
        if status["success_count"] == want:
            return status
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.05)


def test_running_workers_deliver_many_batches_with_two_on_the_wire(tmp_path: Path) -> None:
    c = Cluster(tmp_path)
    meter = ConcurrencyMeter(c["JPN"].app)
    c.client = httpx.AsyncClient(mounts={
        endpoint(code): httpx.ASGITransport(app=meter if code == "JPN" else node.app)
        for code, node in c.nodes.items()})
    for node in c.nodes.values():
        node.worker = DeliveryWorker(node.exchange, c.client, in_flight=2)
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    items = [indicator(marking["id"]) for _ in range(900)]  # five batches of up to 200

    async def go() -> None:
        stop = asyncio.Event()
        tasks = await run_workers(c, stop)
        status = await c.post("KOR", "to-JPN", marking, *items)
        await wait_for(c, status["id"], len(items) + 1)
        stop.set()
        await asyncio.gather(*tasks)
    c.run(go())
    with c["JPN"].exchange.store.engine.connect() as conn:
        received = conn.execute(select(exchange_received.c.item_id)).scalars().all()
    assert sorted(received) == sorted(i["id"] for i in items)  # each once
    assert meter.requests >= 5
    assert meter.most == 2  # pipelined: a second batch goes out before the first is back
    assert c["KOR"].exchange.store.pending_messages() == 0


def test_messages_to_a_party_no_longer_a_peer_are_retried_with_backoff(tmp_path: Path) -> None:
    c = Cluster(tmp_path)
    kor = c["KOR"].exchange
    kor.store.enqueue("AUS", "dropped", '{"kind": "dropped"}', "ref")  # AUS has no endpoint
    kor.settings = dataclasses.replace(kor.settings, backoff_base_seconds=60.0)

    async def go() -> None:
        stop = asyncio.Event()
        tasks = await run_workers(c, stop)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)
    c.run(go())
    assert kor.store.pending_messages() == 1
    assert kor.store.due_messages(10) == []  # not due again before its backoff ends
    with kor.store.engine.connect() as conn:
        attempts, error = conn.execute(select(exchange_messages.c.attempts,
                                              exchange_messages.c.last_error)).one()
    assert attempts == 1  # tried once, then held back by the backoff
    assert "AUS has no endpoint and key" in error


class LockedReads(ExchangeStore):
    """The real store, whose first read of due messages after a committed unit, in the
    same thread, finds the database locked (as SQLite does when another writer holds the
    lock too long): the read the worker makes right after signing a drain or applying a
    reply."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.failed = 0
        self._after = threading.local()

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        with super().unit():
            yield
        self._after.committed = True

    def due_messages(self, limit: int, **kw: Any) -> list[Any]:
        if getattr(self._after, "committed", False):
            self._after.committed = False
            self.failed += 1
            raise OperationalError("SELECT ... FROM exchange_messages", {},
                                   sqlite3.OperationalError("database is locked"))
        return super().due_messages(limit, **kw)


def test_a_failed_read_after_committed_work_is_not_taken_for_a_failed_delivery(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The worker reads what is due in the thread hop that applied a reply (or signed a
    drain): when that read fails, the reply was applied all the same — the peer is not
    backed off as if the delivery had failed, and the send loop reads the messages."""
    c = Cluster(tmp_path, ("KOR", "JPN"))
    for node in c.nodes.values():
        node.worker = DeliveryWorker(node.exchange, c.client, in_flight=2)
    kor = c["KOR"].exchange
    kor.store = flaky = LockedReads(kor.store.engine)
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    items = [indicator(marking["id"]) for _ in range(450)]  # three batches

    async def go() -> None:
        stop = asyncio.Event()
        tasks = await run_workers(c, stop)
        with caplog.at_level(logging.WARNING, logger="tisa.exchange"):
            for n in range(0, len(items), 150):
                status = await c.post("KOR", "to-JPN", *([marking] if n == 0 else []),
                                      *items[n:n + 150])
                await wait_for(c, status["id"], 150 + (1 if n == 0 else 0))
        stop.set()
        await asyncio.gather(*tasks)
    c.run(go())
    assert flaky.failed >= 3  # after the drains and the applied replies
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("applying a reply failed" in e for e in errors), errors
    assert not any("local delivery work failed" in e for e in errors), errors
    assert any("reading the messages due after committed work failed" in r.getMessage()
               for r in caplog.records)
    with c["JPN"].exchange.store.engine.connect() as conn:
        received = conn.execute(select(exchange_received.c.item_id)).scalars().all()
    assert sorted(received) == sorted(i["id"] for i in items)  # each once
    assert kor.store.pending_messages() == 0
