"""The sender's side of the outbox in SQL: pending TAXII shares turned into signed peer
messages in one transaction (rows locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite's single writer holds the database), so a crash leaves them either pending or
sent-and-queued, never half of it; and share outcomes written back to the TAXII status,
in a few set-based statements, never overwriting a final state."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, true, update
from sqlalchemy.exc import SQLAlchemyError

from tisa.store import tables as t
from tisa.store.exchange_tables import exchange_held, exchange_messages, exchange_sent
from tisa.store.sql import now_us

log = logging.getLogger("tisa.exchange")


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    """A pending TAXII share, with the object and the marking-definitions it references
    (as stored: JSON text)."""

    outbox_id: int
    recipient: str
    object_id: str
    version_us: int
    body: str
    object_type: str
    route: str
    definitions: dict[str, str]
    #: ``body`` parsed (once for the drained batch; shared by the shares of one object
    #: version, so read-only); None: not parsed yet
    data: Mapping[str, Any] | None = None


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
    #: what names this share's rows and messages (default: the envelope digest; an
    #: onward share reuses the originator's envelope, so it needs its own)
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotSent:
    state: str  # companion (travels with its items) or failure
    message: str


def drain_outbox(
    conn: Connection, limit: int, build: Callable[[OutboxItem], SentDraft | NotSent]
) -> int:
    """Inside the caller's transaction (its commit makes the batch durable at once)."""
    ob, o = t.outbox, t.objects
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
    definitions = _definitions(conn, refs)
    drafts: list[tuple[OutboxItem, SentDraft]] = []
    statuses = {int(row["id"]): str(row["status_id"]) for row in rows}
    for row in rows:
        key = (row["object_id"], row["collection_id"], int(row["version_us"]))
        body, kind = bodies.get(key, ("{}", ""))
        own_refs = parsed.get(key, {}).get("object_marking_refs", [])
        item = OutboxItem(
            outbox_id=int(row["id"]), recipient=row["recipient"],
            object_id=row["object_id"], version_us=int(row["version_us"]), body=body,
            object_type=kind, route=row["route"],
            definitions={r: definitions[r] for r in own_refs if r in definitions},
            data=parsed.get(key),
        )
        result = _build_one(build, item)
        if isinstance(result, NotSent):
            _fail_alone(conn, item.outbox_id, statuses, result)
            continue
        drafts.append((item, result))
    sent_rows: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    held_rows: list[dict[str, Any]] = []
    sent_ids: list[int] = []
    taken = _refs_in_use(conn, [d.ref or d.envelope_sha256 for _, d in drafts])
    for item, result in drafts:
        ref = result.ref or result.envelope_sha256
        if ref in taken:  # one bad share fails alone: the inserts below cannot fail
            _fail_alone(conn, item.outbox_id, statuses, NotSent(state="failure", message=(
                f"not sent: another share already uses the reference {ref}")))
            continue
        taken.add(ref)
        sent_ids.append(item.outbox_id)
        sent_rows.append({
            "outbox_id": item.outbox_id, "envelope_sha256": result.envelope_sha256,
            "envelope": result.envelope, "recipient": item.recipient,
            "next_hop": result.next_hop, "item_id": item.object_id,
            "version_us": item.version_us, "receipt": None, "ref": ref})
        messages.append(_message(result.message_peer or result.next_hop,
                                 result.message_kind, result.message, ref))
        if result.held is not None:
            held_rows.append({**result.held, "ref": ref, "held_us": now_us()})
    for table, values in ((exchange_sent, sent_rows), (exchange_messages, messages),
                          (exchange_held, held_rows)):
        if values:
            conn.execute(insert(table), values)
    if sent_ids:
        conn.execute(update(ob).where(ob.c.id.in_(sent_ids)).values(
            state="sent", attempts=ob.c.attempts + 1, updated_us=now_us()))
    return len(rows)


def _build_one(build: Callable[[OutboxItem], SentDraft | NotSent], item: OutboxItem
               ) -> SentDraft | NotSent:
    """Build one share; an unexpected error fails that share alone, with its reason,
    instead of rolling back (and so jamming) the whole drain. Database errors still
    abort the round: they are the database's, not the share's, and the round is retried."""
    try:
        return build(item)
    except SQLAlchemyError:
        raise
    except Exception as exc:  # any fault of one share stays with it
        log.exception("share %d (%s to %s) failed while being signed", item.outbox_id,
                      item.object_id, item.recipient)
        return NotSent(state="failure", message=f"not sent: {type(exc).__name__}: {exc}")


def _fail_alone(conn: Connection, outbox_id: int, statuses: dict[int, str],
                result: NotSent) -> None:
    _finish(conn, outbox_id, result.state, result.message)
    _settle_companions(conn, statuses[outbox_id])


def _refs_in_use(conn: Connection, refs: Sequence[str]) -> set[str]:
    """Which of these refs already name a sent or held row."""
    taken: set[str] = set()
    if refs:
        for table in (exchange_sent, exchange_held):
            taken.update(str(r[0]) for r in conn.execute(
                select(table.c.ref).where(table.c.ref.in_(sorted(set(refs))))))
    return taken


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


def _message(peer: str, kind: str, body: str, ref: str) -> dict[str, Any]:
    return {"peer": peer, "kind": kind, "body": body, "ref": ref, "state": "pending",
            "attempts": 0, "next_attempt_us": 0, "last_error": ""}


def enqueue_message(conn: Connection, peer: str, kind: str, body: str, ref: str) -> None:
    enqueue_messages(conn, [(peer, kind, body, ref)])


def enqueue_messages(conn: Connection, messages: Sequence[tuple[str, str, str, str]]) -> None:
    """Queue peer messages (peer, kind, body, ref) in one statement."""
    if messages:
        conn.execute(insert(exchange_messages), [_message(*m) for m in messages])


def finish_shares(conn: Connection, finishes: Sequence[tuple[str, str, str, str | None]]
                   ) -> None:
    """Outcomes (ref, state, message, receipt) of shares, named by their ``ref``."""
    if not finishes:
        return
    ob, es = t.outbox, exchange_sent
    by_digest: dict[str, tuple[str, str, str | None]] = {}
    for digest, state, message, receipt in finishes:
        previous = by_digest.get(digest)
        if previous is None or previous[0] not in ("success", "failure"):
            by_digest[digest] = (state, message, receipt)  # the last non-final word wins
    ids = {int(r[0]): str(r[1]) for r in conn.execute(
        select(es.c.outbox_id, es.c.ref).where(es.c.ref.in_(sorted(by_digest))))}
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
