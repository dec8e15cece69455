"""The delivery worker: turns pending shares into signed item envelopes, runs the hub's
clock (expiry, forwarding), and sends due peer messages in signed batches, one request
per peer at a time, retrying failed requests with exponential backoff and jitter.

Delivery is at-least-once on the wire and exactly-once in effect: a message is marked
done only after the peer's signed reply was applied, and every handler on the receiving
side is idempotent (same envelope, same receipt). One worker per node process; on
PostgreSQL several processes may drain the outbox (SKIP LOCKED), and a message sent
twice is harmless for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

import httpx

from tisa.errors import InvalidInput, TisaError, VerificationError
from tisa.exchange import originating, relaying
from tisa.exchange.context import Exchange, log
from tisa.exchange.protocol import ITEM, sign_request, verify_reply

MESSAGES_PATH = "/exchange/v1/messages"


class DeliveryWorker:
    def __init__(self, ex: Exchange, client: httpx.AsyncClient) -> None:
        self.ex = ex
        self.client = client

    async def run(self, stop: asyncio.Event) -> None:
        log.info("%s: delivery worker started", self.ex.party)
        loop = asyncio.get_running_loop()
        nudged = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(nudged.set)

        self.ex.wake = wake
        stop_waiter = asyncio.create_task(stop.wait())
        stop_waiter.add_done_callback(lambda _: nudged.set())
        while not stop.is_set():
            try:
                work = await self.run_once()
            except Exception:  # the worker outlives any one failure; it is logged
                log.exception("%s: delivery round failed", self.ex.party)
                work = 0
            if not work:  # idle: sleep until nudged (a POST arrived) or the poll interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(nudged.wait(), self.ex.settings.poll_seconds)
            nudged.clear()
        self.ex.wake = lambda: None
        log.info("%s: delivery worker stopped", self.ex.party)

    async def run_once(self) -> int:
        """One round; the amount of work done (0: idle)."""
        work = await asyncio.to_thread(self._local_work)
        due = await asyncio.to_thread(self.ex.store.due_messages, 5000)
        by_peer: dict[str, list[dict[str, Any]]] = {}
        for row in due:
            by_peer.setdefault(row["peer"], []).append(row)
        await asyncio.gather(*(self._send_peer(p, rows) for p, rows in by_peer.items()))
        return work + len(due)

    def _local_work(self) -> int:
        ex = self.ex
        done = ex.store.drain_outbox(ex.settings.batch_size, partial(originating.build_item, ex))
        return done + relaying.tick(ex)

    async def _send_peer(self, peer: str, rows: Sequence[dict[str, Any]]) -> None:
        size = self.ex.settings.batch_size
        for start in range(0, len(rows), size):
            if not await self._send_batch(peer, rows[start : start + size]):
                rest = [int(r["id"]) for r in rows[start + size :]]
                if rest:
                    await asyncio.to_thread(self.ex.store.message_retry, rest,
                                            error="an earlier batch failed",
                                            delay_us=self._backoff_us)
                return

    async def _send_batch(self, peer: str, rows: Sequence[dict[str, Any]]) -> bool:
        ex = self.ex
        ids = [int(r["id"]) for r in rows]
        try:
            target = ex.peers.get(peer)
            if target is None:
                raise InvalidInput(f"{peer} has no endpoint and key in the network file")
            messages = [json.loads(r["body"]) for r in rows]
            body, digest = sign_request(ex, peer, messages)
            response = await self.client.post(
                target.endpoint + MESSAGES_PATH, content=body,
                headers={"Content-Type": "application/json"},
                timeout=ex.settings.request_timeout_seconds)
            if response.status_code != 200:
                raise InvalidInput(f"{peer} answered {response.status_code}: "
                                   f"{response.text[:200]}")
            results = verify_reply(ex, peer, response.content, digest, len(rows))
        except (httpx.HTTPError, TisaError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, VerificationError) else str(exc)
            log.warning("%s -> %s: %d message(s) not delivered, will retry: %s",
                        ex.party, peer, len(rows), detail or type(exc).__name__)
            await asyncio.to_thread(ex.store.message_retry, ids, error=detail or repr(exc),
                                    delay_us=self._backoff_us)
            return False
        await asyncio.to_thread(self._apply, rows, results)
        return True

    def _apply(self, rows: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> None:
        ex = self.ex
        with ex.store.unit():
            items = [str(r["ref"]) for r in rows if r["kind"] == ITEM]
            ex.store.prefetch_sent(items)
            ex.store.prefetch_held(items)
            self._apply_results(rows, results)

    def _apply_results(self, rows: Sequence[dict[str, Any]],
                       results: Sequence[dict[str, Any]]) -> None:
        ex = self.ex
        for row, result in zip(rows, results, strict=True):
            if row["kind"] == ITEM:
                digest = str(row["ref"])
                if ex.store.sent(digest) is not None:
                    originating.on_item_result(ex, digest, result)
                else:
                    relaying.on_forward_result(ex, digest, result)
            elif result.get("outcome") == "refused":
                log.warning("%s: %s refused our %s message: %s", ex.party, row["peer"],
                            row["kind"], result.get("reason"))
        ex.store.messages_done([int(r["id"]) for r in rows])

    def _backoff_us(self, attempts: int) -> int:
        s = self.ex.settings
        delay = min(s.backoff_max_seconds, s.backoff_base_seconds * 2 ** (attempts - 1))
        return int(delay * (0.5 + random.random() / 2) * 1_000_000)  # noqa: S311 (jitter)
