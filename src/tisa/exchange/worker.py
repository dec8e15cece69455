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
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import httpx

from tisa.errors import InvalidInput, TisaError, VerificationError
from tisa.exchange import originating, relaying
from tisa.exchange.context import Exchange, log, logged_together, no_worker
from tisa.exchange.protocol import CONSENT, CONSENT_REQUEST, ITEM, sign_request, verify_reply
from tisa.exchange.sizing import split_batches

MESSAGES_PATH = "/exchange/v1/messages"


class DeliveryWorker:
    """``run`` pipelines the node's work: one loop signs pending shares and runs the hub's
    clock, another keeps up to ``in_flight`` batches per peer on the wire, so this node
    signs the next batch while the peer verifies the last one. ``run_once`` does one
    round of both in turn (tests step a cluster with it)."""

    def __init__(self, ex: Exchange, client: httpx.AsyncClient, *, in_flight: int = 2) -> None:
        self.ex = ex
        self.client = client
        self.in_flight = in_flight
        self._sending: set[int] = set()  # message ids on the wire
        self._peer_batches: dict[str, int] = {}  # batches on the wire per peer
        self._peer_failures: dict[str, int] = {}  # consecutive failed requests per peer
        self._peer_paused_until: dict[str, float] = {}
        self._batches: set[asyncio.Task[bool]] = set()
        self._alone: set[int] = set()  # message ids that go in a batch of their own
        self._rejections: dict[int, int] = {}  # consecutive 4xx answers per message id
        self._finished = 0  # batches finished so far (due rows read before may be stale)
        #: while the send loop reads what is due: the ids others put on the wire meanwhile
        self._late: set[int] | None = None
        self._strays_read = 0.0  # when messages to parties no longer peers were last read
        self._send_nudge: asyncio.Event | None = None  # the running send loop's
        self._stopping: asyncio.Event | None = None  # the running worker's stop event

    async def run(self, stop: asyncio.Event) -> None:
        log.info("%s: delivery worker started", self.ex.party)
        loop = asyncio.get_running_loop()
        local_nudge, send_nudge = asyncio.Event(), asyncio.Event()
        self._send_nudge, self._stopping = send_nudge, stop

        def wake(*, local: bool = True, send: bool = True) -> None:
            if local:
                loop.call_soon_threadsafe(local_nudge.set)
            if send:
                loop.call_soon_threadsafe(send_nudge.set)

        self.ex.wake = wake

        def on_stop(_: object) -> None:
            local_nudge.set()
            send_nudge.set()

        stop_waiter = asyncio.create_task(stop.wait())
        stop_waiter.add_done_callback(on_stop)
        try:
            await asyncio.gather(self._local_loop(stop, local_nudge, send_nudge),
                                 self._send_loop(stop, send_nudge))
        finally:
            self.ex.wake = no_worker
            self._send_nudge = self._stopping = None
            log.info("%s: delivery worker stopped", self.ex.party)

    async def _idle(self, nudge: asyncio.Event) -> None:
        """Sleep until nudged (a POST arrived, a batch came back) or the poll interval."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(nudge.wait(), self.ex.settings.poll_seconds)
        nudge.clear()

    async def _local_loop(self, stop: asyncio.Event, nudge: asyncio.Event,
                          send_nudge: asyncio.Event) -> None:
        while not stop.is_set():
            nudge.clear()
            try:
                work = await self._then_send(self._local_work, send_nudge)
            except Exception:  # the worker outlives any one failure; it is logged
                log.exception("%s: local delivery work failed", self.ex.party)
                work = 0
            if not work:
                await self._idle(nudge)

    async def _send_loop(self, stop: asyncio.Event, nudge: asyncio.Event) -> None:
        while not stop.is_set():
            nudge.clear()
            try:
                started = await self._start_batches(nudge)
            except Exception:  # the worker outlives any one failure; it is logged
                log.exception("%s: sending failed", self.ex.party)
                started = 0
            if not started:
                await self._idle(nudge)
        while self._batches:  # finish what is on the wire; its replies are applied
            await asyncio.gather(*list(self._batches), return_exceptions=True)

    async def _start_batches(self, nudge: asyncio.Event) -> int:
        """Put due messages on the wire, up to ``in_flight`` batches per peer; how many
        batches were started. A finished batch nudges the send loop."""
        now = time.monotonic()
        strays_due = now - self._strays_read >= self.ex.settings.poll_seconds
        if strays_due:
            self._strays_read = now
        self._late = set()
        try:
            due, strays = await asyncio.to_thread(self._due, self._free_slots(),
                                                  set(self._sending), strays=strays_due)
            late = self._late
        finally:
            self._late = None
        if late:  # sent (and maybe finished) while this read ran: not again
            due = {peer: [r for r in rows if int(r["id"]) not in late]
                   for peer, rows in due.items()}
        started = await self._dispatch(due, nudge)
        # Messages to parties that are no longer peers (a new network file): each send
        # fails with its reason and is retried with backoff, as for an unreachable peer.
        # Read at most once per poll interval, not on every nudge.
        for peer in sorted({str(r["peer"]) for r in strays}):
            await self._send_batch(peer, [r for r in strays if r["peer"] == peer])
        return started

    def _free_slots(self) -> dict[str, int]:
        """Free batch slots per peer that is not paused."""
        now = time.monotonic()
        return {peer: free for peer in self.ex.peers
                if (free := self.in_flight - self._peer_batches.get(peer, 0)) > 0
                and self._peer_paused_until.get(peer, 0.0) <= now}

    async def _dispatch(self, due: dict[str, list[dict[str, Any]]], nudge: asyncio.Event
                        ) -> int:
        """Start batches of due rows, skipping rows put on the wire since they were read
        and peers whose slots filled meanwhile; how many batches were started."""
        started = 0
        for peer, rows in due.items():
            for batch in await self._split(peer, rows):  # by count and by bytes
                batch = [r for r in batch if int(r["id"]) not in self._sending]
                if not batch:
                    continue
                if self._peer_batches.get(peer, 0) >= self.in_flight:
                    break
                self._sending.update(int(r["id"]) for r in batch)
                if self._late is not None:
                    self._late.update(int(r["id"]) for r in batch)
                self._peer_batches[peer] = self._peer_batches.get(peer, 0) + 1
                task = asyncio.create_task(self._send_batch(peer, batch))
                self._batches.add(task)
                task.add_done_callback(partial(self._batch_done, peer, batch, nudge))
                started += 1
        return started

    async def _then_send(self, work: Callable[[], int], nudge: asyncio.Event, *,
                         on_wire: int = 0) -> int:
        """Run ``work`` in a worker thread and, when it did something while nothing else
        is on the wire (``on_wire``: the batches of the caller's own), read what is due
        in the same thread hop and put it on the wire at once: a new message leaves
        without waiting for a round of the send loop. Under load (batches on the wire)
        the send loop is nudged instead: it reads once for all, when a batch is back.
        Rows read while a batch finished may be stale (done, or rescheduled); then too
        the send loop is nudged, to read them again. So it is when that read fails: the
        work is committed by then, and its failure is not the work's."""
        finished, slots, sending = self._finished, self._free_slots(), set(self._sending)
        read = bool(slots) and len(self._batches) <= on_wire

        def run() -> tuple[int, dict[str, list[dict[str, Any]]] | None]:
            done = work()
            if not (done and read):
                return done, None
            try:
                return done, self._due(slots, sending, strays=False)[0]
            except Exception:  # e.g. a locked database: the send loop reads them again
                log.warning("%s: reading the messages due after committed work failed; the "
                            "send loop reads them", self.ex.party, exc_info=True)
                return done, None

        done, due = await asyncio.to_thread(run)
        stopping = self._stopping is not None and self._stopping.is_set()
        if done and (due is None or finished != self._finished or stopping):
            nudge.set()  # new messages may be due (stopping: they wait for the restart)
        elif due:
            await self._dispatch(due, nudge)
        return done

    def _due(self, slots: dict[str, int], sending: set[int], *, strays: bool
             ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
        """In one thread hop: the due messages for each peer with free batch slots, and
        (``strays``) some due for parties that are no longer peers."""
        store, size = self.ex.store, self.ex.settings.batch_size
        due = {peer: rows for peer, free in slots.items()
               if (rows := store.due_messages(free * size, peer=peer, exclude=sending))}
        if not strays:
            return due, []
        return due, store.due_messages(size, not_to=set(self.ex.peers), exclude=sending)

    def _batch_done(self, peer: str, batch: Sequence[dict[str, Any]], nudge: asyncio.Event,
                    task: asyncio.Task[bool]) -> None:
        self._finished += 1
        self._batches.discard(task)
        self._sending.difference_update(int(r["id"]) for r in batch)
        self._peer_batches[peer] -= 1
        failure = None if task.cancelled() else task.exception()
        if failure is not None:  # applying the reply failed: the messages stay due
            log.error("%s -> %s: applying a reply failed; will resend", self.ex.party, peer,
                      exc_info=failure)
        delivered = not task.cancelled() and failure is None and task.result()
        if delivered:
            self._peer_failures.pop(peer, None)
            self._peer_paused_until.pop(peer, None)
        else:  # back off from this peer as a whole, not only from this batch's messages
            failures = self._peer_failures[peer] = self._peer_failures.get(peer, 0) + 1
            self._peer_paused_until[peer] = time.monotonic() + self._backoff_us(failures) / 1e6
        nudge.set()

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
        done = originating.drain_outbox(ex)
        return done + relaying.tick(ex)

    async def _split(self, peer: str, rows: Sequence[dict[str, Any]]
                     ) -> list[list[dict[str, Any]]]:
        """Batches by count and by bytes (a request never exceeds the peer's assumed body
        limit); a message that cannot fit even alone is given up here, alone."""
        s = self.ex.settings
        batches, too_large = split_batches(rows, count=s.batch_size, limit=s.max_request_bytes,
                                           alone=self._alone)
        if too_large:
            await asyncio.to_thread(self._give_up, peer, [(row, (
                f"too large to send: over the {s.max_request_bytes}-byte limit of a peer "
                "request (max_content_length) even alone")) for row in too_large])
        return batches

    async def _send_peer(self, peer: str, rows: Sequence[dict[str, Any]]) -> None:
        batches = await self._split(peer, rows)
        for n, batch in enumerate(batches):
            if not await self._send_batch(peer, batch):
                rest = [int(r["id"]) for later in batches[n + 1 :] for r in later]
                if rest:
                    await asyncio.to_thread(self.ex.store.message_retry, rest,
                                            error="an earlier batch failed",
                                            delay_us=self._backoff_us)
                return

    async def _send_batch(self, peer: str, rows: Sequence[dict[str, Any]]) -> bool:
        ex = self.ex
        status: int | None = None
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
                status = response.status_code
                raise InvalidInput(_answered(peer, response))
            results = verify_reply(ex, peer, response.content, digest, len(rows))
        except (httpx.HTTPError, TisaError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, VerificationError) else str(exc)
            if isinstance(exc, httpx.HTTPError):  # unreachable, timed out, cut off
                detail = f"no answer from {peer}: {detail or type(exc).__name__}"
            log.warning("%s -> %s: %d message(s) not delivered, will retry: %s",
                        ex.party, peer, len(rows), detail or type(exc).__name__)
            await self._not_delivered(peer, rows, detail or repr(exc), status)
            return False
        if self._send_nudge is None:  # stepped by run_once: it sends what is due next
            await asyncio.to_thread(self._apply, rows, results)
        else:  # what applying queued (a receipt the hub passes back) leaves at once
            await self._then_send(partial(self._apply, rows, results), self._send_nudge,
                                  on_wire=1)
        for row in rows:
            self._alone.discard(int(row["id"]))
            self._rejections.pop(int(row["id"]), None)
        return True

    async def _not_delivered(self, peer: str, rows: Sequence[dict[str, Any]], error: str,
                             status: int | None) -> None:
        """A request failed: retry its messages (their shares' statuses say so), or give
        up those the peer keeps rejecting. A rejection (4xx) that may be one message's
        doing (400, 413) sends each of the batch's messages alone from now on, so one bad
        message never takes others down; a 413 for a message alone is final."""
        ids = [int(r["id"]) for r in rows]
        rejected = status is not None and 400 <= status < 500
        if rejected and len(rows) > 1 and status in (400, 413):
            self._alone.update(ids)
        for i in ids:
            if rejected:
                self._rejections[i] = self._rejections.get(i, 0) + 1
            else:  # the count is of consecutive rejections
                self._rejections.pop(i, None)
        give_up: list[tuple[dict[str, Any], str]] = []
        retry: list[dict[str, Any]] = []
        for row in rows:
            times = self._rejections.get(int(row["id"]), 0)
            if rejected and status == 413 and len(rows) == 1:
                give_up.append((row, f"{error} (it does not fit {peer}'s body limit even "
                                     "alone; not retried)"))
            elif times >= self.ex.settings.max_rejections:
                give_up.append((row, f"{peer} rejected it {times} times in a row, last: "
                                     f"{error}; not retried"))
            else:
                retry.append(row)
        if give_up:
            for row, _ in give_up:  # bookkeeping stays on the event loop's thread
                self._alone.discard(int(row["id"]))
                self._rejections.pop(int(row["id"]), None)
            await asyncio.to_thread(self._give_up, peer, give_up)
        if retry:
            retried = await asyncio.to_thread(
                self.ex.store.message_retry, [int(r["id"]) for r in retry], error=error,
                delay_us=self._backoff_us)
            await asyncio.to_thread(self._note_retries, peer, retry, retried, error)

    def _note_retries(self, peer: str, rows: Sequence[dict[str, Any]],
                      retried: dict[int, tuple[int, int]], error: str) -> None:
        """The last error goes into the status of the share each message serves (still
        ``pending``: it is retried)."""
        ex = self.ex
        with ex.store.unit():
            ex.store.prefetch_sent([str(r["ref"]) for r in rows
                                    if r["kind"] in (ITEM, CONSENT_REQUEST)])
            for row in rows:
                attempts, delay = retried.get(int(row["id"]), (0, 0))
                if not attempts:
                    continue
                note = f"attempt {attempts} failed: {error}; next try in {delay / 1e6:.1f} s"
                kind, ref = row["kind"], str(row["ref"])
                if kind == ITEM and ex.store.sent(ref) is not None:
                    ex.store.finish_share(ref, state="pending",
                                          message=f"awaiting delivery to {peer}: {note}")
                elif kind == CONSENT_REQUEST and ex.store.sent(ref) is not None:
                    ex.store.finish_share(ref, state="pending", message=(
                        f"awaiting consent: the consent request to {peer} is not delivered "
                        f"yet: {note}"))
                elif kind == CONSENT and (request := ex.store.consent_request(ref)):
                    ex.store.finish_share(str(request["envelope_sha256"]), state="pending",
                                          message=(f"{ex.party}'s answer to consent request "
                                                   f"{ref} awaits delivery to {peer}: {note}"))

    def _give_up(self, peer: str, failed: Sequence[tuple[dict[str, Any], str]]) -> None:
        """Messages that will never be delivered: marked ``failed``, and what waits on them
        is settled with the reason (as if the peer had refused them)."""
        ex = self.ex
        with ex.store.unit():
            refs = [str(r["ref"]) for r, _ in failed if r["kind"] == ITEM]
            ex.store.prefetch_sent(refs)
            ex.store.prefetch_held(refs)
            for row, reason in failed:
                log.error("%s -> %s: %s message %s given up: %s", ex.party, peer, row["kind"],
                          row["id"], reason)
                kind, ref = row["kind"], str(row["ref"])
                if kind == ITEM and ex.store.sent(ref) is not None:
                    ex.store.finish_share(ref, state="failure",
                                          message=f"not delivered to {peer}: {reason}")
                elif kind == ITEM:
                    relaying.on_forward_result(ex, ref, {"outcome": "refused", "reason": reason})
                elif kind == CONSENT_REQUEST:
                    relaying.on_consent_request_refused(ex, peer, json.loads(row["body"]), reason)
                elif kind == CONSENT:
                    originating.on_consent_refused(ex, peer, ref, reason)
                ex.store.messages_failed([int(row["id"])], error=reason)

    def _apply(self, rows: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]]) -> int:
        """Apply a batch's results; the number of messages applied."""
        ex = self.ex
        with logged_together(), ex.store.unit():  # a batch's receipts: one INFO line
            items = [str(r["ref"]) for r in rows if r["kind"] == ITEM]
            ex.store.prefetch_sent(items)
            ex.store.prefetch_held(items)
            self._apply_results(rows, results)
        return len(rows)

    def _apply_results(self, rows: Sequence[dict[str, Any]],
                       results: Sequence[dict[str, Any]]) -> None:
        ex = self.ex
        forwarded: list[tuple[str, dict[str, Any]]] = []
        for row, result in zip(rows, results, strict=True):
            if row["kind"] == ITEM:
                digest = str(row["ref"])
                if ex.store.sent(digest) is not None:
                    originating.on_item_result(ex, digest, result)
                else:
                    forwarded.append((digest, result))
            elif result.get("outcome") == "refused":
                reason = originating.peer_reason(result.get("reason"))
                log.warning("%s: %s refused our %s message: %s", ex.party, row["peer"],
                            row["kind"], reason)
                if row["kind"] == CONSENT_REQUEST:  # settle what waits on it, now
                    relaying.on_consent_request_refused(ex, str(row["peer"]),
                                                        json.loads(row["body"]), reason)
                elif row["kind"] == CONSENT:
                    originating.on_consent_refused(ex, str(row["peer"]), str(row["ref"]),
                                                   reason)
            elif row["kind"] == CONSENT and int(row.get("attempts") or 0) > 0:
                # delivered after failed attempts: the status no longer shows the error
                originating.on_consent_delivered(ex, str(row["peer"]), str(row["ref"]))
        relaying.on_forward_results(ex, forwarded)
        ex.store.messages_done([int(r["id"]) for r in rows])

    def _backoff_us(self, attempts: int) -> int:
        s = self.ex.settings
        delay = min(s.backoff_max_seconds, s.backoff_base_seconds * 2 ** (attempts - 1))
        return int(delay * (0.5 + random.random() / 2) * 1_000_000)  # noqa: S311 (jitter)


def _answered(peer: str, response: httpx.Response) -> str:
    """A peer's non-200 answer, for the log and the share's status."""
    text = response.text[:300]
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and {"title", "description"} <= body.keys():
            text = f"{body['title']}: {body['description']}"[:300]
    return f"{peer} answered {response.status_code} {text}".strip()
