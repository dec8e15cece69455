"""SQL for the exchange layer: what was sent, peer messages to send, what was received,
what a hub holds, consent requests, and the replay guard. Same engine as ``SqlStore``.

The TAXII outbox is drained here in one transaction per batch: rows are locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single writer holds the database),
signed into item envelopes, and turned into peer messages, so a crash either leaves the
rows pending or has them sent-and-queued, never half of it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tisa.store import tables as t
from tisa.store.exchange_tables import (
    consent_requests,
    exchange_held,
    exchange_messages,
    exchange_received,
    exchange_seen,
    exchange_sent,
)
from tisa.store.sql import now_us

Row = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    """A pending TAXII share, with the object and the marking-definitions it references."""

    outbox_id: int
    recipient: str
    object_id: str
    version_us: int
    body: str
    object_type: str
    route: str
    definitions: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class SentDraft:
    envelope: str
    envelope_sha256: str
    next_hop: str
    message: str  # the peer message body (JSON text)
    #: whom the message goes to and what it is (default: the item, to ``next_hop``)
    message_peer: str | None = None
    message_kind: str = "item"
    #: an ``exchange_held`` row to insert with it (onward sharing awaiting consent)
    held: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class NotSent:
    state: str  # companion (travels with its items) or failure
    message: str


class ExchangeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Run the calls inside in one transaction (one commit for a whole batch). Only
        this store's tables: never write through another store inside a unit (SQLite has
        one writer)."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._local.conn = conn
            self._local.finishes = []
            try:
                yield
                _finish_shares(conn, self._local.finishes)
            finally:
                self._local.conn = None
                self._local.finishes = []
                self._local.sent = None
                self._local.receipts = None
                self._local.held = None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        shared = getattr(self._local, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        shared = getattr(self._local, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            yield conn

    def _insert_new(self, conn: Connection, table: Table, values: dict[str, Any]) -> bool:
        """Insert unless the key exists (no error, so a shared transaction survives)."""
        dialect = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
        stmt = dialect(table).values(**values).on_conflict_do_nothing()
        return bool(conn.execute(stmt).rowcount)

    # -- the TAXII outbox, turned into signed peer messages ------------------------------

    def drain_outbox(
        self, limit: int, build: Callable[[OutboxItem], SentDraft | NotSent]
    ) -> int:
        ob, o = t.outbox, t.objects
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(ob).where(ob.c.state == "pending").order_by(ob.c.id).limit(limit)
                .with_for_update(skip_locked=True)
            ).mappings().all()
            if not rows:
                return 0
            bodies: dict[tuple[str, str, int], tuple[str, str]] = {}
            for r in conn.execute(select(
                    o.c.object_id, o.c.collection_id, o.c.version_us, o.c.body, o.c.type
            ).where(o.c.object_id.in_(sorted({r["object_id"] for r in rows})))):
                bodies[(r[0], r[1], int(r[2]))] = (r[3], r[4])
            parsed = {k: json.loads(v[0]) for k, v in bodies.items()}
            refs = sorted({ref for data in parsed.values()
                           for ref in data.get("object_marking_refs", []) if isinstance(ref, str)})
            definitions = self._definitions(conn, refs)
            sent_rows: list[dict[str, Any]] = []
            messages: list[dict[str, Any]] = []
            held_rows: list[dict[str, Any]] = []
            sent_ids: list[int] = []
            for row in rows:
                key = (row["object_id"], row["collection_id"], int(row["version_us"]))
                body, kind = bodies.get(key, ("{}", ""))
                own_refs = parsed.get(key, {}).get("object_marking_refs", [])
                item = OutboxItem(
                    outbox_id=int(row["id"]), recipient=row["recipient"],
                    object_id=row["object_id"], version_us=int(row["version_us"]), body=body,
                    object_type=kind, route=row["route"],
                    definitions={r: definitions[r] for r in own_refs if r in definitions},
                )
                result = build(item)
                if isinstance(result, NotSent):
                    _finish(conn, item.outbox_id, result.state, result.message)
                    _settle_companions(conn, str(row["status_id"]))
                    continue
                sent_ids.append(item.outbox_id)
                sent_rows.append({
                    "outbox_id": item.outbox_id, "envelope_sha256": result.envelope_sha256,
                    "envelope": result.envelope, "recipient": item.recipient,
                    "next_hop": result.next_hop, "item_id": item.object_id,
                    "version_us": item.version_us, "receipt": None})
                messages.append(_message(result.message_peer or result.next_hop,
                                         result.message_kind, result.message,
                                         result.envelope_sha256))
                if result.held is not None:
                    held_rows.append({**result.held, "held_us": now_us()})
            for table, values in ((exchange_sent, sent_rows), (exchange_messages, messages),
                                  (exchange_held, held_rows)):
                if values:
                    conn.execute(insert(table), values)
            if sent_ids:
                conn.execute(update(ob).where(ob.c.id.in_(sent_ids)).values(
                    state="sent", attempts=ob.c.attempts + 1, updated_us=now_us()))
        return len(rows)

    @staticmethod
    def _definitions(conn: Connection, refs: Sequence[str]) -> dict[str, str]:
        if not refs:
            return {}
        o = t.objects
        return {
            r[0]: r[1]
            for r in conn.execute(select(o.c.object_id, o.c.body).where(
                o.c.object_id.in_(list(refs)), o.c.type == "marking-definition",
                o.c.is_last == true()))
        }

    def prefetch_sent(self, digests: Sequence[str]) -> None:
        """Inside a unit: read these ``sent`` rows in one query (absent ones too)."""
        cache: dict[str, Row | None] = dict.fromkeys(digests)
        with self._connect() as conn:
            for row in conn.execute(select(exchange_sent).where(
                    exchange_sent.c.envelope_sha256.in_(sorted(cache)))).mappings():
                cache[row["envelope_sha256"]] = dict(row)
        self._local.sent = cache

    def prefetch_receipts(self, digests: Sequence[str]) -> None:
        """Inside a unit: read the receipts given for these envelopes in one query."""
        cache: dict[str, str | None] = dict.fromkeys(digests)
        r = exchange_received
        with self._connect() as conn:
            for digest, receipt in conn.execute(select(r.c.envelope_sha256, r.c.receipt).where(
                    r.c.envelope_sha256.in_(sorted(cache)))):
                cache[digest] = receipt
        self._local.receipts = cache

    def sent(self, envelope_sha256: str) -> Row | None:
        cache = getattr(self._local, "sent", None)
        if cache is not None and envelope_sha256 in cache:
            return cache[envelope_sha256]  # type: ignore[no-any-return]
        return self._one(select(exchange_sent).where(
            exchange_sent.c.envelope_sha256 == envelope_sha256))

    def finish_share(self, envelope_sha256: str, *, state: str, message: str,
                     receipt: str | None = None) -> None:
        """Record the outcome of a share (inside a ``unit``: at its end, with the others).

        Once a share is final it stays so: the guard is in the UPDATE itself, so a late
        "held" never overwrites a receipt that committed meanwhile (another thread, or
        another process on PostgreSQL)."""
        finish = (envelope_sha256, state, message, receipt)
        if getattr(self._local, "conn", None) is not None:
            self._local.finishes.append(finish)
            return
        with self.engine.begin() as conn:
            _finish_shares(conn, [finish])

    # -- peer messages ------------------------------------------------------------------

    def enqueue(self, peer: str, kind: str, body: str, ref: str) -> None:
        with self._begin() as conn:
            _enqueue(conn, peer, kind, body, ref)

    def due_messages(self, limit: int) -> list[Row]:
        m = exchange_messages
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(
                select(m).where(m.c.state == "pending", m.c.next_attempt_us <= now_us())
                .order_by(m.c.id).limit(limit)).mappings()]

    def messages_done(self, ids: Sequence[int]) -> None:
        with self._begin() as conn:
            conn.execute(update(exchange_messages).where(
                exchange_messages.c.id.in_(list(ids))).values(state="done"))

    def message_retry(self, ids: Sequence[int], *, error: str, delay_us: Callable[[int], int]
                      ) -> None:
        m = exchange_messages
        with self._begin() as conn:
            for row in conn.execute(select(m.c.id, m.c.attempts).where(
                    m.c.id.in_(list(ids)))).all():
                attempts = int(row[1]) + 1
                conn.execute(update(m).where(m.c.id == row[0]).values(
                    attempts=attempts, last_error=error[:1000],
                    next_attempt_us=now_us() + delay_us(attempts)))

    def pending_messages(self) -> int:
        m = exchange_messages
        with self._connect() as conn:
            return len(conn.execute(select(m.c.id).where(m.c.state == "pending")).all())

    # -- received (final recipient) -----------------------------------------------------

    def receipt_for(self, envelope_sha256: str) -> str | None:
        cache = getattr(self._local, "receipts", None)
        if cache is not None and envelope_sha256 in cache:
            return cache[envelope_sha256]  # type: ignore[no-any-return]
        row = self._one(select(exchange_received.c.receipt).where(
            exchange_received.c.envelope_sha256 == envelope_sha256))
        return None if row is None else str(row["receipt"])

    def received_envelope(self, item_id: str, version_us: int) -> Row | None:
        """The originator's envelope of an object version this node received."""
        r = exchange_received
        return self._one(select(r).where(r.c.item_id == item_id, r.c.version_us == version_us)
                         .order_by(r.c.received_us).limit(1))

    def record_received(self, **values: Any) -> bool:
        """False if a concurrent duplicate delivery recorded it first (its receipt stands)."""
        with self._begin() as conn:
            return self._insert_new(conn, exchange_received,
                                    {**values, "received_us": now_us()})

    # -- held (hub) ---------------------------------------------------------------------

    def prefetch_held(self, digests: Sequence[str]) -> None:
        """Inside a unit: read these held items in one query (absent ones too)."""
        cache: dict[str, Row | None] = dict.fromkeys(digests)
        with self._connect() as conn:
            for row in conn.execute(select(exchange_held).where(
                    exchange_held.c.envelope_sha256.in_(sorted(cache)))).mappings():
                cache[row["envelope_sha256"]] = dict(row)
        self._local.held = cache

    def held(self, envelope_sha256: str) -> Row | None:
        cache = getattr(self._local, "held", None)
        if cache is not None and envelope_sha256 in cache:
            return cache[envelope_sha256]  # type: ignore[no-any-return]
        return self._one(select(exchange_held).where(
            exchange_held.c.envelope_sha256 == envelope_sha256))

    def held_by_request(self, request_id: str) -> Row | None:
        return self._one(select(exchange_held).where(exchange_held.c.request_id == request_id))

    def hold(self, *, messages: Sequence[tuple[str, str, str, str]], **values: Any) -> bool:
        """Hold an item and queue messages (peer, kind, body, ref) with it; False if held."""
        with self._begin() as conn:
            if not self._insert_new(conn, exchange_held, {**values, "held_us": now_us()}):
                return False
            for peer, kind, body, ref in messages:
                _enqueue(conn, peer, kind, body, ref)
        return True

    def held_in_state(self, state: str, limit: int = 500) -> list[Row]:
        h = exchange_held
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(
                select(h).where(h.c.state == state).order_by(h.c.held_us).limit(limit)
            ).mappings()]

    def update_held(self, envelope_sha256: str, *, expect: Sequence[str],
                    messages: Sequence[tuple[str, str, str, str]] = (), **values: Any) -> bool:
        """Move a held item on (only from a state in ``expect``) and queue messages with it."""
        h = exchange_held
        with self._begin() as conn:
            changed = conn.execute(update(h).where(
                h.c.envelope_sha256 == envelope_sha256, h.c.state.in_(list(expect))
            ).values(**values)).rowcount
            if not changed:
                return False
            for peer, kind, body, ref in messages:
                _enqueue(conn, peer, kind, body, ref)
        return True

    # -- consent requests (originator) --------------------------------------------------

    def add_consent_request(self, **values: Any) -> bool:
        with self._begin() as conn:
            return self._insert_new(conn, consent_requests,
                                    {**values, "state": "open", "reason": ""})

    def consent_requests(self, *, state: str | None = "open") -> list[Row]:
        c = consent_requests
        stmt = select(c).order_by(c.c.requested_us, c.c.id)
        if state is not None:
            stmt = stmt.where(c.c.state == state)
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def consent_request(self, request_id: str) -> Row | None:
        return self._one(select(consent_requests).where(consent_requests.c.id == request_id))

    def answer_consent(self, request_id: str, *, state: str, reason: str,
                       message: tuple[str, str, str, str] | None) -> bool:
        c = consent_requests
        with self._begin() as conn:
            changed = conn.execute(update(c).where(c.c.id == request_id, c.c.state == "open")
                                   .values(state=state, reason=reason)).rowcount
            if changed and message is not None:
                _enqueue(conn, *message)
        return bool(changed)

    # -- replay guard -------------------------------------------------------------------

    def first_sight(self, digest: str, *, forget_before_us: int) -> bool:
        """Remember a request digest; False if it was seen before (a replay)."""
        with self._begin() as conn:
            conn.execute(delete(exchange_seen).where(exchange_seen.c.seen_us < forget_before_us))
            return self._insert_new(conn, exchange_seen, {"digest": digest, "seen_us": now_us()})

    def _one(self, stmt: Any) -> Row | None:
        with self._connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else dict(row)


def _message(peer: str, kind: str, body: str, ref: str) -> dict[str, Any]:
    return {"peer": peer, "kind": kind, "body": body, "ref": ref, "state": "pending",
            "attempts": 0, "next_attempt_us": 0, "last_error": ""}


def _enqueue(conn: Connection, peer: str, kind: str, body: str, ref: str) -> None:
    conn.execute(insert(exchange_messages).values(**_message(peer, kind, body, ref)))


def _finish_shares(conn: Connection, finishes: Sequence[tuple[str, str, str, str | None]]
                   ) -> None:
    if not finishes:
        return
    ob, es = t.outbox, exchange_sent
    by_digest: dict[str, tuple[str, str, str | None]] = {}
    for digest, state, message, receipt in finishes:
        previous = by_digest.get(digest)
        if previous is None or previous[0] not in ("success", "failure"):
            by_digest[digest] = (state, message, receipt)  # the last non-final word wins
    ids = {int(r[0]): str(r[1]) for r in conn.execute(
        select(es.c.outbox_id, es.c.envelope_sha256).where(
            es.c.envelope_sha256.in_(sorted(by_digest))))}
    if not ids:
        return
    open_rows = conn.execute(
        update(ob).where(ob.c.id.in_(sorted(ids)), ob.c.state.not_in(["success", "failure"]))
        .values(updated_us=now_us()).returning(ob.c.id, ob.c.status_id, ob.c.entry_idx)
    ).all()
    entries, receipts, statuses = [], [], set()
    finals: dict[str, list[int]] = {}
    for outbox_id, status_id, entry_idx in open_rows:
        state, message, receipt = by_digest[ids[int(outbox_id)]]
        if state in ("success", "failure"):
            finals.setdefault(state, []).append(int(outbox_id))
        entries.append({"sid": status_id, "ix": entry_idx, "st": state, "msg": message})
        if receipt is not None:
            receipts.append({"oid": int(outbox_id), "rc": receipt})
        statuses.add(str(status_id))
    for state, outbox_ids in finals.items():
        conn.execute(update(ob).where(ob.c.id.in_(outbox_ids)).values(state=state))
    if entries:
        se = t.status_entries
        conn.execute(update(se).where(se.c.status_id == bindparam("sid"),
                                      se.c.idx == bindparam("ix"))
                     .values(state=bindparam("st"), message=bindparam("msg")), entries)
    if receipts:
        conn.execute(update(es).where(es.c.outbox_id == bindparam("oid"))
                     .values(receipt=bindparam("rc")), receipts)
    waiting = {str(r[0]) for r in conn.execute(select(ob.c.status_id).where(
        ob.c.status_id.in_(sorted(statuses)), ob.c.state == "companion"))}
    for status_id in sorted(waiting):
        _settle_companions(conn, status_id)


def _settle_companions(conn: Connection, status_id: str) -> None:
    """Marking-definitions travel inside their items' signed headers: in a status, they
    succeed once an item succeeded, and fail once every item has failed."""
    ob = t.outbox
    rows = conn.execute(select(ob.c.id, ob.c.state).where(ob.c.status_id == status_id)).all()
    companions = [int(r[0]) for r in rows if r[1] == "companion"]
    items = [str(r[1]) for r in rows if r[1] != "companion"]
    if not companions:
        return
    if "success" in items:
        state, message = "success", "delivered inside the signed header of its items"
    elif items and all(s == "failure" for s in items):
        state, message = "failure", "not delivered: none of its items was"
    else:
        return
    for outbox_id in companions:
        _finish(conn, outbox_id, state, message)


def _finish(conn: Connection, outbox_id: int, state: str, message: str) -> None:
    """The outbox row and its TAXII status entry move together."""
    ob = t.outbox
    row = conn.execute(select(ob.c.status_id, ob.c.entry_idx).where(ob.c.id == outbox_id)).one()
    if state in ("success", "failure", "companion"):
        conn.execute(update(ob).where(ob.c.id == outbox_id).values(state=state,
                                                                     updated_us=now_us()))
    conn.execute(update(t.status_entries).where(
        t.status_entries.c.status_id == row[0], t.status_entries.c.idx == row[1]
    ).values(state="pending" if state == "companion" else state, message=message))
