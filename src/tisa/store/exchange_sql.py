"""SQL for the exchange layer: what was sent, peer messages to send, what was received,
what a hub holds, consent requests, and the replay guard. Same engine as ``SqlStore``.

``unit()`` runs a batch of calls in one transaction (one commit per request or reply).
The TAXII outbox drain and share outcomes are in ``exchange_outbox``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from tisa.store import tables as t
from tisa.store.bulk import insert_rows
from tisa.store.exchange_outbox import (
    NotSent,
    OutboxItem,
    SentDraft,
    drain_outbox,
    enqueue_message,
    enqueue_messages,
    finish_shares,
)
from tisa.store.exchange_tables import (
    consent_requests,
    exchange_held,
    exchange_messages,
    exchange_received,
    exchange_seen,
    exchange_sent,
)
from tisa.store.sql import now_us

_INSERT_NEW: dict[tuple[str, str], Any] = {}


def _insert_new_stmt(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for this backend, built once per table (the
    values travel as parameters, so the compiled form is cached)."""
    key = (conn.dialect.name, table.name)
    stmt = _INSERT_NEW.get(key)
    if stmt is None:
        dialect = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
        stmt = _INSERT_NEW[key] = dialect(table).on_conflict_do_nothing()
    return stmt

__all__ = ["ExchangeStore", "NotSent", "OutboxItem", "Row", "SentDraft"]

# A batch's prefetches, built once (an IN of literal values is built and coerced value by
# value at each call).
_SENT_BY_REFS = select(exchange_sent).where(
    exchange_sent.c.ref.in_(bindparam("refs", expanding=True)))
_RECEIPTS_BY_DIGESTS = select(exchange_received.c.envelope_sha256,
                              exchange_received.c.receipt).where(
    exchange_received.c.envelope_sha256.in_(bindparam("digests", expanding=True)))
_HELD_BY_REFS = select(exchange_held).where(
    exchange_held.c.ref.in_(bindparam("refs", expanding=True)))

Row = dict[str, Any]
#: a hold waiting for its unit's flush: the row, its messages, what to run if inserted
_Hold = tuple[dict[str, Any], list[tuple[str, str, str, str]], Callable[[], None] | None]


_MAX_RUNS = 16  # more runs than this: excluded as a list of ids


@lru_cache(maxsize=64)
def _due_stmt(to_peer: bool, not_to: bool, runs: int, exclude: bool) -> Any:
    """The query of ``due_messages`` for this shape, built once (values are parameters)."""
    m = exchange_messages
    stmt = select(m).where(m.c.state == "pending", m.c.next_attempt_us <= bindparam("now"))
    if to_peer:
        stmt = stmt.where(m.c.peer == bindparam("peer"))
    if not_to:
        stmt = stmt.where(m.c.peer.not_in(bindparam("not_to", expanding=True)))
    if exclude:
        stmt = stmt.where(m.c.id.not_in(bindparam("exclude", expanding=True)))
    for n in range(runs):
        stmt = stmt.where(~m.c.id.between(bindparam(f"low{n}"), bindparam(f"high{n}")))
    return stmt.order_by(m.c.id).limit(bindparam("limit"))


def _runs(ids: Collection[int]) -> list[tuple[int, int]]:
    """``ids`` as runs of consecutive ids, (first, last) each, ascending."""
    runs: list[tuple[int, int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


class ExchangeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    def in_unit(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def unit_list(self, key: str) -> tuple[list[Any], bool]:
        """A list that lives as long as the current unit (dropped with it on rollback),
        and whether this call created it."""
        scratch: dict[str, list[Any]] = self._local.scratch
        if key in scratch:
            return scratch[key], False
        scratch[key] = []
        return scratch[key], True

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` at the end of the current unit, just before it commits (an
        exception in it rolls the unit back)."""
        self._local.before_commit.append(hook)

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
            self._local.before_commit = []
            self._local.scratch = {}
            try:
                yield
                holds, _ = self.unit_list("holds")  # first: their on_held may record
                self._hold_all(conn, holds)
                finish_shares(conn, self._local.finishes)
                for hook in self._local.before_commit:
                    hook()
            finally:
                self._local.conn = None
                self._local.finishes = []
                self._local.before_commit = []
                self._local.scratch = {}
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
        return bool(conn.execute(_insert_new_stmt(conn, table), values).rowcount)

    # -- the TAXII outbox, turned into signed peer messages ------------------------------

    def drain_outbox(
        self, limit: int, build: Callable[[OutboxItem], SentDraft | NotSent]
    ) -> int:
        """Turn up to ``limit`` pending shares into signed, queued peer messages, in one
        unit (so the log events ``build`` records go in one durable call before it commits)."""
        with self.unit():
            conn: Connection = self._local.conn
            return drain_outbox(conn, limit, build)

    def prefetch_sent(self, refs: Sequence[str]) -> None:
        """Inside a unit: read these ``sent`` rows (by ref) in one query (absent ones too)."""
        cache: dict[str, Row | None] = dict.fromkeys(refs)
        with self._connect() as conn:
            for row in conn.execute(_SENT_BY_REFS, {"refs": sorted(cache)}).mappings():
                cache[row["ref"]] = dict(row)
        self._local.sent = cache

    def prefetch_receipts(self, digests: Sequence[str]) -> None:
        """Inside a unit: read the receipts given for these envelopes in one query."""
        cache: dict[str, str | None] = dict.fromkeys(digests)
        with self._connect() as conn:
            for digest, receipt in conn.execute(_RECEIPTS_BY_DIGESTS, {"digests": sorted(cache)}):
                cache[digest] = receipt
        self._local.receipts = cache

    def sent(self, ref: str) -> Row | None:
        """The share this node sent under ``ref`` (the envelope digest for what it signed
        itself; ``<digest>:<outbox id>`` for an onward share)."""
        cache = getattr(self._local, "sent", None)
        if cache is not None and ref in cache:
            return cache[ref]  # type: ignore[no-any-return]
        return self._one(select(exchange_sent).where(exchange_sent.c.ref == ref))

    def finish_share(self, ref: str, *, state: str, message: str,
                     receipt: str | None = None) -> None:
        """Record the outcome of a share, named by its ref (inside a ``unit``: at its end,
        with the others).

        Once a share is final it stays so: the guard is in the UPDATE itself, so a late
        "held" never overwrites a receipt that committed meanwhile (another thread, or
        another process on PostgreSQL)."""
        finish = (ref, state, message, receipt)
        if getattr(self._local, "conn", None) is not None:
            self._local.finishes.append(finish)
            return
        with self.engine.begin() as conn:
            finish_shares(conn, [finish])

    # -- peer messages ------------------------------------------------------------------

    def enqueue(self, peer: str, kind: str, body: str, ref: str) -> None:
        with self._begin() as conn:
            enqueue_message(conn, peer, kind, body, ref)

    def due_messages(self, limit: int, *, peer: str | None = None,
                     not_to: Collection[str] = (), exclude: Collection[int] = ()) -> list[Row]:
        """Pending messages due now, oldest first: to ``peer`` only when given, to none of
        ``not_to``, and without the ids in ``exclude`` (e.g. those on the wire)."""
        runs = _runs(exclude)  # the ids on the wire mostly run in a row: a few ranges
        as_list = len(runs) > _MAX_RUNS
        stmt = _due_stmt(peer is not None, bool(not_to), 0 if as_list else len(runs), as_list)
        values: dict[str, Any] = {"now": now_us(), "limit": limit}
        if peer is not None:
            values["peer"] = peer
        if not_to:
            values["not_to"] = sorted(not_to)
        if as_list:
            values["exclude"] = sorted(exclude)
        else:
            for n, (low, high) in enumerate(runs):
                values[f"low{n}"], values[f"high{n}"] = low, high
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(stmt, values).mappings()]

    def messages_done(self, ids: Sequence[int]) -> None:
        with self._begin() as conn:
            conn.execute(update(exchange_messages).where(
                exchange_messages.c.id.in_(list(ids))).values(state="done"))

    def message_retry(self, ids: Sequence[int], *, error: str, delay_us: Callable[[int], int]
                      ) -> dict[int, tuple[int, int]]:
        """Count a failed attempt and schedule the next; per id, (attempts, delay µs)."""
        m = exchange_messages
        retried: dict[int, tuple[int, int]] = {}
        with self._begin() as conn:
            for row in conn.execute(select(m.c.id, m.c.attempts).where(
                    m.c.id.in_(list(ids)))).all():
                attempts = int(row[1]) + 1
                delay = delay_us(attempts)
                conn.execute(update(m).where(m.c.id == row[0]).values(
                    attempts=attempts, last_error=error[:1000],
                    next_attempt_us=now_us() + delay))
                retried[int(row[0])] = (attempts, delay)
        return retried

    def messages_failed(self, ids: Sequence[int], *, error: str) -> None:
        """Give messages up (state ``failed``, never sent again), with the reason."""
        m = exchange_messages
        with self._begin() as conn:
            conn.execute(update(m).where(m.c.id.in_(list(ids)), m.c.state == "pending")
                         .values(state="failed", last_error=error[:1000]))

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

    def received_envelopes(self, item_id: str, version_us: int) -> list[Row]:
        """The originators' envelopes of an object version this node received, oldest
        first (a version may come more than once: first-hand, and passed on by a holder)."""
        r = exchange_received
        with self._connect() as conn:
            return [dict(row) for row in conn.execute(
                select(r).where(r.c.item_id == item_id, r.c.version_us == version_us)
                .order_by(r.c.received_us)).mappings()]

    def record_received_many(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Record received items in one statement; the digests that a concurrent
        duplicate delivery recorded first (their receipts stand)."""
        now = now_us()
        values = [{**row, "received_us": now} for row in rows]
        try:
            with self.engine.begin() as conn:
                insert_rows(conn, exchange_received, values)
            return set()
        except SqlIntegrityError:
            with self.engine.begin() as conn:
                return {v["envelope_sha256"] for v in values
                        if not self._insert_new(conn, exchange_received, v)}

    def record_received(self, **values: Any) -> bool:
        """False if a concurrent duplicate delivery recorded it first (its receipt stands)."""
        with self._begin() as conn:
            return self._insert_new(conn, exchange_received,
                                    {**values, "received_us": now_us()})

    # -- held (hub) ---------------------------------------------------------------------

    def prefetch_held(self, refs: Sequence[str]) -> None:
        """Inside a unit: read these held items (by ref) in one query (absent ones too)."""
        cache: dict[str, Row | None] = dict.fromkeys(refs)
        with self._connect() as conn:
            for row in conn.execute(_HELD_BY_REFS, {"refs": sorted(cache)}).mappings():
                cache[row["ref"]] = dict(row)
        self._local.held = cache

    def held(self, ref: str) -> Row | None:
        """A held item by its ref (a hub's: the envelope digest)."""
        cache = getattr(self._local, "held", None)
        if cache is not None and ref in cache:
            return cache[ref]  # type: ignore[no-any-return]
        return self._one(select(exchange_held).where(exchange_held.c.ref == ref))

    def held_by_request(self, request_id: str) -> Row | None:
        return self._one(select(exchange_held).where(exchange_held.c.request_id == request_id))

    def hold(self, *, messages: Sequence[tuple[str, str, str, str]],
             on_held: Callable[[], None] | None = None, **values: Any) -> bool:
        """Hold an item and queue messages (peer, kind, body, ref) with it; False if held.
        Its ``ref`` defaults to its envelope digest (a hub's hold). ``on_held`` runs, in
        the same transaction, only if this call's row is the one inserted (not when a
        concurrent request held the same ref first): what to record for the hold.

        Inside a unit the row is inserted with the unit's other holds in one statement
        just before the unit commits (ahead of its ``before_commit`` hooks, so what
        ``on_held`` records is flushed with the unit); True then means only that the ref
        is new to this unit (False for the same ref twice in one unit)."""
        values.setdefault("ref", values.get("envelope_sha256"))
        row = {**values, "held_us": now_us()}
        if self.in_unit():
            pending, _ = self.unit_list("holds")
            if any(held["ref"] == row["ref"] for held, _, _ in pending):
                return False
            pending.append((row, list(messages), on_held))
            return True
        with self._begin() as conn:
            return bool(self._hold_all(conn, [(row, list(messages), on_held)]))

    def _hold_all(self, conn: Connection, holds: Sequence[_Hold]) -> set[str]:
        """Insert held rows (those not held yet), queue the messages of those inserted and
        run their ``on_held``; the refs inserted. Their refs are distinct (``hold`` takes a
        ref once per unit)."""
        if not holds:
            return set()
        stmt = _insert_new_stmt(conn, exchange_held).returning(exchange_held.c.ref)
        held = {str(r[0]) for r in conn.execute(stmt, [row for row, _, _ in holds])}
        for row, messages, on_held in holds:
            if row["ref"] in held:
                enqueue_messages(conn, messages)
                if on_held is not None:
                    on_held()
        return held

    def held_in_state(self, state: str, limit: int = 500, *,
                      expires_before_us: int | None = None) -> list[Row]:
        h = exchange_held
        stmt = select(h).where(h.c.state == state).order_by(h.c.held_us).limit(limit)
        if expires_before_us is not None:
            stmt = stmt.where(h.c.expires_us <= expires_before_us)
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def update_held(self, ref: str, *, expect: Sequence[str],
                    messages: Sequence[tuple[str, str, str, str]] = (), **values: Any) -> bool:
        """Move a held item (by ref) on (only from a state in ``expect``) and queue messages
        with it."""
        h = exchange_held
        with self._begin() as conn:
            # Values as parameters, not in the statement: a held row carries a whole
            # envelope, and statements with large inline values compile slowly.
            stmt = update(h).where(
                h.c.ref == bindparam("key"), h.c.state.in_(list(expect))
            ).values({name: bindparam(f"v_{name}") for name in values})
            params = {"key": ref, **{f"v_{k}": v for k, v in values.items()}}
            changed = conn.execute(stmt, params).rowcount
            if not changed:
                return False
            for peer, kind, body, ref in messages:
                enqueue_message(conn, peer, kind, body, ref)
        return True

    def advance_held(self, moves: Mapping[str, Sequence[tuple[str, str, str, str]]], *,
                     expect: Sequence[str], state: str) -> set[str]:
        """Move many held items (by ref) to ``state`` (each only from a state in
        ``expect``) in one statement, and queue each moved item's messages; the refs that
        moved."""
        if not moves:
            return set()
        h = exchange_held
        with self._begin() as conn:
            moved = {str(r[0]) for r in conn.execute(
                update(h).where(h.c.ref.in_(sorted(moves)), h.c.state.in_(list(expect)))
                .values(state=state).returning(h.c.ref))}
            enqueue_messages(conn, [m for key, queued in moves.items() if key in moved
                                    for m in queued])
        return moved

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

    def open_consent_request(self, *, envelope_sha256: str, holder: str, recipient: str
                             ) -> Row | None:
        """The open request for this envelope, holder and recipient, if there is one."""
        c = consent_requests
        return self._one(select(c).where(
            c.c.envelope_sha256 == envelope_sha256, c.c.holder == holder,
            c.c.recipient == recipient, c.c.state == "open").order_by(c.c.requested_us))

    def share_state(self, envelope_sha256: str) -> str | None:
        """The state of the share that sent this envelope (None: this node did not). An
        envelope this node signed is its share's ref; onward shares (another party's
        envelope, several shares of it) are not looked up here."""
        ob, es = t.outbox, exchange_sent
        row = self._one(select(ob.c.state).join(es, es.c.outbox_id == ob.c.id)
                        .where(es.c.ref == envelope_sha256))
        return None if row is None else str(row["state"])

    def answer_consent(self, request_id: str, *, state: str, reason: str,
                       message: tuple[str, str, str, str] | None) -> bool:
        c = consent_requests
        with self._begin() as conn:
            changed = conn.execute(update(c).where(c.c.id == request_id, c.c.state == "open")
                                   .values(state=state, reason=reason)).rowcount
            if changed and message is not None:
                enqueue_message(conn, *message)
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
