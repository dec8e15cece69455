"""The SQL store for SQLite (WAL) and PostgreSQL, over SQLAlchemy Core.

Ordering guarantee: a writer first takes its collection's counter row (an UPDATE, which
locks the row on PostgreSQL and the database on SQLite) and holds it until commit. So
``date_added``/``seq`` are handed out in commit order and strictly increase within a
collection: a reader paging by ``(date_added, seq)`` never misses a row that commits later
with an earlier timestamp, even with several processes writing to one PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    false,
    insert,
    not_,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import OperationalError

from tisa.errors import ConfigError, Conflict, IntegrityError
from tisa.store import tables as t
from tisa.store.bulk import insert_rows
from tisa.store.exchange_tables import exchange_received
from tisa.store.migrate import migrate
from tisa.store.ports import (
    UNSCOPED,
    CollectionRecord,
    EntryState,
    NewObject,
    ObjectQuery,
    OutboxEntry,
    Page,
    Part,
    ReceivedCopy,
    StatusEntry,
    StatusRecord,
    StoredObject,
    UserRecord,
    VersionFilter,
    Viewer,
)

_CHUNK = 500
MARKING_DEFINITION = "marking-definition"
DEFINITION_CHANGED = (
    "a marking-definition with this id is already stored with different content; "
    "marking-definitions are immutable: give a new marking a new id"
)
CANNOT_STORE = "an object with this id and version cannot be stored here"
NOTHING_TO_TRAVEL_WITH = "not stored: none of the objects it travels with was stored"
_MDEF_LOCK = 0x7157A_0001  # pg_advisory_xact_lock key: writers of marking-definitions


def now_us() -> int:
    return time.time_ns() // 1000


def engine_for(url: str) -> Engine:
    """An engine with the settings each backend needs."""
    if url.startswith("sqlite:"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=30000",
                "PRAGMA temp_store=MEMORY",
                "PRAGMA cache_size=-32768",
            ):
                cursor.execute(pragma)
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


class SqlStore:
    """Implements ``ObjectStore``, ``StatusStore``, ``OutboxStore`` and ``UserStore``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._collection_ids: tuple[str, ...] = ()

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Connect and migrate the schema to head (safe to race from several processes)."""
        engine = engine_for(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise ConfigError(f"cannot open the database: {_redact(str(exc.orig))}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- collections -------------------------------------------------------------------

    def ensure_collections(self, collections: Sequence[CollectionRecord]) -> None:
        for record in collections:
            try:
                with self._write() as conn:
                    found = conn.execute(
                        select(t.collections.c.id).where(t.collections.c.id == record.id)
                    ).first()
                    if found is None:
                        conn.execute(
                            insert(t.collections).values(
                                id=record.id, title=record.title, last_seq=0, last_added_us=0
                            )
                        )
            except SqlIntegrityError:
                pass  # another process created it first
        self._collection_ids = tuple(
            sorted({*self._collection_ids, *(c.id for c in collections)})
        )

    # -- ingest ------------------------------------------------------------------------

    def ingest(
        self,
        *,
        collection_id: str,
        owner: str,
        parts: Sequence[Part],
        status_id: str,
        viewer: Viewer,
    ) -> StatusRecord:
        o = t.objects
        request_us = now_us()
        entries: list[StatusEntry] = []
        with self._write() as conn:
            counter = conn.execute(
                update(t.collections)
                .where(t.collections.c.id == collection_id)
                .values(last_seq=t.collections.c.last_seq)
                .returning(t.collections.c.last_seq, t.collections.c.last_added_us)
            ).first()
            if counter is None:
                raise IntegrityError(f"collection {collection_id} is not in the database")
            last_seq, last_added = int(counter[0]), int(counter[1])

            new_ids = sorted({p.object_id for p in parts if isinstance(p, NewObject)})
            if self.is_postgresql and any(
                isinstance(p, NewObject) and p.type == MARKING_DEFINITION for p in parts
            ):
                # Marking-definitions are immutable node-wide, across collections: writers
                # of definitions take turns, so two cannot store different contents at once.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MDEF_LOCK})
            known: dict[str, dict[int, tuple[int, str]]] = {}  # id -> version_us -> (pk, digest)
            definition_digests: dict[str, set[str]] = {}  # marking-definition id -> digests
            hidden: set[tuple[str, int]] = set()  # (id, version_us) the poster cannot see
            hidden_definitions: set[str] = set()  # stored somewhere the poster cannot see
            for chunk in _chunks(new_ids):
                # By id alone, so the planner has one index to use whatever its statistics
                # say; the few rows of other collections are dropped here.
                found = conn.execute(_VERSIONS_OF_IDS, {"ids": list(chunk)}).all()
                topics = _topics_of(conn, [int(row[2]) for row in found])
                for row in found:
                    visible = _can_see(viewer, int(row[6]), topics.get(int(row[2]), set()))
                    if row[5] == MARKING_DEFINITION:
                        definition_digests.setdefault(row[0], set()).add(row[3])
                        if not visible:
                            hidden_definitions.add(row[0])
                    if row[4] == collection_id:
                        known.setdefault(row[0], {})[int(row[1])] = (int(row[2]), row[3])
                        if not visible:
                            hidden.add((row[0], int(row[1])))

            rows: list[dict[str, Any]] = []
            row_parts: list[tuple[int, NewObject]] = []
            clear_first: set[int] = set()
            clear_last: set[int] = set()
            pending_new: dict[str, dict[int, int]] = {}  # id -> version_us -> row index
            duplicates: list[tuple[int, NewObject]] = []
            slots: dict[int, StatusEntry] = {}
            carried: set[tuple[str, int]] = set()  # (id, version_us) stored or re-posted
            for i in _in_order(parts):
                part = parts[i]
                if not isinstance(part, NewObject):
                    slots[i] = (
                        StatusEntry(
                            object_id=part.object_id,
                            version=part.version,
                            state="failure",
                            message=part.message,
                        )
                    )
                    continue
                if part.travels_with and not part.travels_with & carried:
                    slots[i] = StatusEntry(
                        object_id=part.object_id,
                        version=part.version,
                        state="failure",
                        message=NOTHING_TO_TRAVEL_WITH,
                    )
                    continue
                if (part.object_id, part.version_us) in hidden or (
                    part.object_id in hidden_definitions
                ):
                    # One answer whatever the stored content: no oracle for what is hidden.
                    slots[i] = (
                        StatusEntry(
                            object_id=part.object_id,
                            version=part.version,
                            state="failure",
                            message=CANNOT_STORE,
                        )
                    )
                    continue
                if part.type == MARKING_DEFINITION:
                    digests = definition_digests.setdefault(part.object_id, set())
                    if digests - {part.digest}:
                        slots[i] = (
                            StatusEntry(
                                object_id=part.object_id,
                                version=part.version,
                                state="failure",
                                message=DEFINITION_CHANGED,
                            )
                        )
                        continue
                    digests.add(part.digest)
                stored = known.get(part.object_id, {})
                fresh = pending_new.get(part.object_id, {})
                if part.version_us in stored or part.version_us in fresh:
                    same = (
                        stored[part.version_us][1] == part.digest
                        if part.version_us in stored
                        else rows[fresh[part.version_us]]["digest"] == part.digest
                    )
                    if not same:
                        slots[i] = (
                            StatusEntry(
                                object_id=part.object_id,
                                version=part.version,
                                state="failure",
                                message="a different object with this id and version is "
                                "already stored; give the new one a later modified time",
                            )
                        )
                        continue
                    duplicates.append((i, part))
                    carried.add((part.object_id, part.version_us))
                    slots[i] = (
                        StatusEntry(
                            object_id=part.object_id,
                            version=part.version,
                            state="pending" if part.outbox else "success",
                            message="already stored",
                        )
                    )
                    continue
                versions = sorted([*stored, *fresh])
                is_first = not versions or part.version_us < versions[0]
                is_last = not versions or part.version_us > versions[-1]
                if is_first and versions:
                    _clear_flag(versions[0], stored, fresh, rows, clear_first, "is_first")
                if is_last and versions:
                    _clear_flag(versions[-1], stored, fresh, rows, clear_last, "is_last")
                last_added = max(now_us(), last_added + 1)
                last_seq += 1
                fresh[part.version_us] = len(rows)
                pending_new[part.object_id] = fresh
                rows.append(
                    {
                        "collection_id": collection_id,
                        "object_id": part.object_id,
                        "type": part.type,
                        "spec_version": part.spec_version,
                        "version": part.version,
                        "version_us": part.version_us,
                        "is_first": is_first,
                        "is_last": is_last,
                        "date_added_us": last_added,
                        "seq": last_seq,
                        "level_rank": part.level_rank,
                        "digest": part.digest,
                        "body": part.body,
                    }
                )
                row_parts.append((i, part))
                carried.add((part.object_id, part.version_us))
                slots[i] = (
                    StatusEntry(
                        object_id=part.object_id,
                        version=part.version,
                        state="pending" if part.outbox else "success",
                        message=part.pending_message if part.outbox else "",
                    )
                )

            entries = [slots[i] for i in range(len(parts))]

            if rows:
                self._insert_many(conn, o, rows)
                self._insert_topics(conn, collection_id, [p for _, p in row_parts if p.topics])
            for flag, pks_to_clear in (("is_first", clear_first), ("is_last", clear_last)):
                for chunk in _chunks(sorted(pks_to_clear)):
                    conn.execute(update(o).where(o.c.pk.in_(chunk)).values({flag: False}))

            if duplicates:
                entries = self._duplicate_states(conn, collection_id, entries, duplicates)

            conn.execute(
                insert(t.statuses).values(
                    id=status_id,
                    collection_id=collection_id,
                    owner=owner,
                    request_timestamp_us=request_us,
                )
            )
            if entries:
                self._insert_many(
                    conn,
                    t.status_entries,
                    [
                        {
                            "status_id": status_id,
                            "idx": i,
                            "object_id": e.object_id,
                            "version": e.version,
                            "state": e.state,
                            "message": e.message,
                        }
                        for i, e in enumerate(entries)
                    ],
                )
            outbox_rows = [
                {
                    "status_id": status_id,
                    "entry_idx": idx,
                    "collection_id": collection_id,
                    "recipient": part.outbox.recipient,
                    "object_id": part.object_id,
                    "version_us": part.version_us,
                    "route": part.outbox.route,
                    "state": "pending",
                    "attempts": 0,
                    "created_us": request_us,
                    "updated_us": request_us,
                }
                for idx, part in row_parts
                if part.outbox is not None
            ]
            if outbox_rows:
                conn.execute(insert(t.outbox), outbox_rows)
            conn.execute(
                update(t.collections)
                .where(t.collections.c.id == collection_id)
                .values(last_seq=last_seq, last_added_us=last_added)
            )
        return StatusRecord(
            id=status_id,
            collection_id=collection_id,
            owner=owner,
            request_timestamp_us=request_us,
            entries=tuple(entries),
        )

    def _insert_many(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows in one go: ``COPY`` on PostgreSQL (psycopg's executemany is a
        statement per row), executemany on SQLite (in-process)."""
        if not rows:
            return
        if not self.is_postgresql:
            insert_rows(conn, table, rows)
            return
        columns = list(rows[0])
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"  # our own names
        ) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def _insert_topics(
        self, conn: Connection, collection_id: str, parts: Sequence[NewObject]
    ) -> None:
        if not parts:
            return
        pks: dict[tuple[str, int], int] = {}
        for chunk in _chunks(sorted({p.object_id for p in parts})):
            for object_id, version_us, pk in conn.execute(
                _PKS_IN_COLLECTION, {"collection": collection_id, "ids": list(chunk)}
            ):
                pks[(object_id, int(version_us))] = int(pk)
        self._insert_many(
            conn,
            t.object_topics,
            [
                {"object_pk": pks[(p.object_id, p.version_us)], "topic": topic}
                for p in parts
                for topic in sorted(p.topics)
            ],
        )

    def _duplicate_states(
        self,
        conn: Connection,
        collection_id: str,
        entries: list[StatusEntry],
        duplicates: list[tuple[int, NewObject]],
    ) -> list[StatusEntry]:
        """A re-posted share reports the state of the first request for it."""
        result = list(entries)
        for idx, part in duplicates:
            if part.outbox is None:
                continue
            row = conn.execute(
                select(t.outbox.c.state)
                .where(
                    t.outbox.c.collection_id == collection_id,
                    t.outbox.c.object_id == part.object_id,
                    t.outbox.c.version_us == part.version_us,
                )
                .order_by(t.outbox.c.id)
                .limit(1)
            ).first()
            state = _state(row[0] if row is not None else "pending")
            result[idx] = StatusEntry(
                object_id=part.object_id,
                version=part.version,
                state=state,
                message="already requested; " + ("delivered" if state == "success" else state),
            )
        return result

    # -- reads -------------------------------------------------------------------------

    def page(self, query: ObjectQuery) -> Page:
        o = t.objects
        stmt = (
            select(
                o.c.object_id,
                o.c.type,
                o.c.spec_version,
                o.c.version,
                o.c.version_us,
                o.c.date_added_us,
                o.c.seq,
                o.c.body,
            )
            .where(o.c.collection_id == query.collection_id, *_visible(query.viewer))
            .order_by(o.c.date_added_us, o.c.seq)
            .limit(query.limit + 1)
        )
        if query.ids:
            stmt = stmt.where(o.c.object_id.in_(sorted(query.ids)))
        if query.types:
            stmt = stmt.where(o.c.type.in_(sorted(query.types)))
        if query.spec_versions:
            stmt = stmt.where(o.c.spec_version.in_(sorted(query.spec_versions)))
        version_clause = _version_clause(query.versions)
        if version_clause is not None:
            stmt = stmt.where(version_clause)
        if query.added_after_us is not None:
            stmt = stmt.where(o.c.date_added_us > query.added_after_us)
        if query.after is not None:
            stmt = stmt.where(
                o.c.date_added_us >= query.after.date_added_us,
                not_(
                    and_(
                        o.c.date_added_us == query.after.date_added_us,
                        o.c.seq <= query.after.seq,
                    )
                ),
            )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        found = tuple(
            StoredObject(
                object_id=r[0],
                type=r[1],
                spec_version=r[2],
                version=r[3],
                version_us=int(r[4]),
                date_added_us=int(r[5]),
                seq=int(r[6]),
                body=r[7],
            )
            for r in rows[: query.limit]
        )
        return Page(objects=found, more=len(rows) > query.limit)

    def object_exists(self, collection_id: str, object_id: str, viewer: Viewer) -> bool:
        o = t.objects
        stmt = select(o.c.pk).where(
            o.c.collection_id == collection_id, o.c.object_id == object_id, *_visible(viewer)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt.limit(1)).first() is not None

    def received_copies(self, object_ids: Sequence[str]) -> dict[str, list[ReceivedCopy]]:
        """The versions of these objects this node received from other parties."""
        r = exchange_received
        found: dict[str, list[ReceivedCopy]] = {}
        if not object_ids:
            return found
        with self.engine.connect() as conn:
            for item_id, originator, version_us, sender, relayed in conn.execute(select(
                    r.c.item_id, r.c.originator, r.c.version_us, r.c.sender,
                    r.c.relay.is_not(None)).where(r.c.item_id.in_(sorted(set(object_ids))))):
                found.setdefault(item_id, []).append(ReceivedCopy(
                    originator=originator, version_us=int(version_us), sender=sender,
                    first_hand=bool(relayed) or sender == originator))
        return found

    def count_objects(self, collection_id: str) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(t.objects.c.collection_id == collection_id)
                ).scalar_one()
            )

    def delete_object(
        self,
        *,
        collection_id: str,
        object_id: str,
        viewer: Viewer,
        versions: VersionFilter,
        spec_versions: frozenset[str],
    ) -> int:
        o = t.objects
        with self._write() as conn:
            conn.execute(
                update(t.collections)
                .where(t.collections.c.id == collection_id)
                .values(last_seq=t.collections.c.last_seq)
            )
            stmt = select(o.c.pk).where(
                o.c.collection_id == collection_id,
                o.c.object_id == object_id,
                *_visible(viewer),
            )
            if spec_versions:
                stmt = stmt.where(o.c.spec_version.in_(sorted(spec_versions)))
            clause = _version_clause(versions)
            if clause is not None:
                stmt = stmt.where(clause)
            pks = [int(pk) for pk in conn.execute(stmt).scalars()]
            if not pks:
                return 0
            conn.execute(delete(t.object_topics).where(t.object_topics.c.object_pk.in_(pks)))
            conn.execute(delete(o).where(o.c.pk.in_(pks)))
            remaining = conn.execute(
                select(o.c.pk, o.c.version_us)
                .where(o.c.collection_id == collection_id, o.c.object_id == object_id)
                .order_by(o.c.version_us)
            ).all()
            if remaining:
                conn.execute(
                    update(o)
                    .where(o.c.pk.in_([int(r[0]) for r in remaining]))
                    .values(is_first=False, is_last=False)
                )
                conn.execute(update(o).where(o.c.pk == remaining[0][0]).values(is_first=True))
                conn.execute(update(o).where(o.c.pk == remaining[-1][0]).values(is_last=True))
            return len(pks)

    def marking_definitions(self, ids: Sequence[str]) -> dict[str, str]:
        o = t.objects
        found: dict[str, str] = {}
        if not ids or not self._collection_ids:
            return found
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(ids))):
                # The first stored copy is authoritative; ingest refuses any other content.
                for object_id, body in conn.execute(
                    select(o.c.object_id, o.c.body)
                    .where(
                        o.c.collection_id.in_(self._collection_ids),
                        o.c.object_id.in_(chunk),
                        o.c.type == MARKING_DEFINITION,
                    )
                    .order_by(o.c.pk)
                ):
                    found.setdefault(object_id, body)
        return found

    # -- statuses ----------------------------------------------------------------------

    def visible_versions(
        self, collection_id: str, entries: Sequence[StatusEntry], viewer: Viewer
    ) -> set[tuple[str, str]]:
        """The (id, version) pairs of ``entries`` stored in the collection where ``viewer``
        can see them."""
        o = t.objects
        found: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted({e.object_id for e in entries})):
                for object_id, version in conn.execute(
                    select(o.c.object_id, o.c.version).where(
                        o.c.collection_id == collection_id,
                        o.c.object_id.in_(chunk),
                        *_visible(viewer),
                    )
                ):
                    found.add((object_id, version))
        return found

    def status(self, status_id: str) -> StatusRecord | None:
        with self.engine.connect() as conn:
            head = conn.execute(
                select(
                    t.statuses.c.collection_id,
                    t.statuses.c.owner,
                    t.statuses.c.request_timestamp_us,
                ).where(t.statuses.c.id == status_id)
            ).first()
            if head is None:
                return None
            entries = conn.execute(
                select(
                    t.status_entries.c.object_id,
                    t.status_entries.c.version,
                    t.status_entries.c.state,
                    t.status_entries.c.message,
                )
                .where(t.status_entries.c.status_id == status_id)
                .order_by(t.status_entries.c.idx)
            ).all()
        return StatusRecord(
            id=status_id,
            collection_id=head[0],
            owner=head[1],
            request_timestamp_us=int(head[2]),
            entries=tuple(
                StatusEntry(object_id=e[0], version=e[1], state=_state(e[2]), message=e[3])
                for e in entries
            ),
        )

    # -- outbox ------------------------------------------------------------------------

    def claim_outbox(self, *, limit: int, recipient: str | None = None) -> list[OutboxEntry]:
        ob = t.outbox
        with self._write() as conn:
            stmt = select(ob).where(ob.c.state == "pending").order_by(ob.c.id).limit(limit)
            if recipient is not None:
                stmt = stmt.where(ob.c.recipient == recipient)
            rows = conn.execute(stmt.with_for_update(skip_locked=True)).mappings().all()
            if not rows:
                return []
            ids = [int(r["id"]) for r in rows]
            conn.execute(
                update(ob)
                .where(ob.c.id.in_(ids))
                .values(state="sending", attempts=ob.c.attempts + 1, updated_us=now_us())
            )
        return [
            OutboxEntry(
                id=int(r["id"]),
                status_id=r["status_id"],
                collection_id=r["collection_id"],
                recipient=r["recipient"],
                object_id=r["object_id"],
                version_us=int(r["version_us"]),
                route=r["route"],
                state="sending",
                attempts=int(r["attempts"]) + 1,
            )
            for r in rows
        ]

    def finish_outbox(self, outbox_id: int, *, state: str, message: str) -> None:
        if state not in ("success", "failure", "pending"):
            raise IntegrityError(f"outbox state {state!r} is not success, failure or pending")
        ob = t.outbox
        with self._write() as conn:
            row = conn.execute(
                select(ob.c.status_id, ob.c.entry_idx).where(ob.c.id == outbox_id)
            ).first()
            if row is None:
                raise IntegrityError(f"outbox row {outbox_id} does not exist")
            conn.execute(
                update(ob).where(ob.c.id == outbox_id).values(state=state, updated_us=now_us())
            )
            conn.execute(
                update(t.status_entries)
                .where(
                    t.status_entries.c.status_id == row[0],
                    t.status_entries.c.idx == row[1],
                )
                .values(state=state, message=message)
            )

    def release_outbox(self, outbox_ids: Sequence[int]) -> None:
        ob = t.outbox
        with self._write() as conn:
            conn.execute(
                update(ob)
                .where(ob.c.id.in_(list(outbox_ids)), ob.c.state == "sending")
                .values(state="pending", updated_us=now_us())
            )

    # -- users -------------------------------------------------------------------------

    def add_user(self, user: UserRecord) -> None:
        try:
            with self._write() as conn:
                conn.execute(
                    insert(t.users).values(
                        name=user.name,
                        password_hash=user.password_hash,
                        clearance_rank=user.clearance_rank,
                        topics=None if user.topics is None else json.dumps(sorted(user.topics)),
                        admin=user.admin,
                    )
                )
        except SqlIntegrityError:
            raise Conflict(f"user {user.name!r} already exists") from None

    def user(self, name: str) -> UserRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).mappings().first()
        if row is None:
            return None
        topics = row["topics"]
        return UserRecord(
            name=row["name"],
            password_hash=row["password_hash"],
            clearance_rank=int(row["clearance_rank"]),
            topics=None if topics is None else frozenset(json.loads(topics)),
            admin=bool(row["admin"]),
        )

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def _state(value: str) -> EntryState:
    if value == "success":
        return "success"
    if value == "failure":
        return "failure"
    return "pending"


def _visible(viewer: Viewer) -> list[ColumnElement[bool]]:
    o = t.objects
    clauses: list[ColumnElement[bool]] = [o.c.level_rank <= viewer.clearance_rank]
    if viewer.topics is not None:
        ot = t.object_topics
        outside = exists().where(ot.c.object_pk == o.c.pk)
        topics = viewer.topics - {UNSCOPED}
        if topics:
            outside = outside.where(ot.c.topic.not_in(sorted(topics)))
        clauses.append(not_(outside))
    return clauses


def _in_order(parts: Sequence[Part]) -> list[int]:
    """Indexes of ``parts``: those that travel with others last, so they know whether
    any of those was stored."""
    return sorted(range(len(parts)), key=lambda i: _travels(parts[i]))


def _travels(part: Part) -> bool:
    return isinstance(part, NewObject) and bool(part.travels_with)


def _can_see(viewer: Viewer, rank: int, topics: set[str]) -> bool:
    """``_visible`` for one row already in hand."""
    return rank <= viewer.clearance_rank and (
        viewer.topics is None or topics <= viewer.topics - {UNSCOPED}
    )


# Built once (an IN of literal values is built and coerced value by value at each call):
# the versions stored under some ids in any collection, the pks of some ids' versions in
# one collection, and the topics of some objects.
_VERSIONS_OF_IDS = select(
    t.objects.c.object_id,
    t.objects.c.version_us,
    t.objects.c.pk,
    t.objects.c.digest,
    t.objects.c.collection_id,
    t.objects.c.type,
    t.objects.c.level_rank,
).where(t.objects.c.object_id.in_(bindparam("ids", expanding=True)))
_PKS_IN_COLLECTION = select(t.objects.c.object_id, t.objects.c.version_us, t.objects.c.pk).where(
    t.objects.c.collection_id == bindparam("collection"),
    t.objects.c.object_id.in_(bindparam("ids", expanding=True)),
)
_TOPICS_OF_PKS = select(t.object_topics.c.object_pk, t.object_topics.c.topic).where(
    t.object_topics.c.object_pk.in_(bindparam("pks", expanding=True))
)


def _topics_of(conn: Connection, pks: Sequence[int]) -> dict[int, set[str]]:
    topics: dict[int, set[str]] = {}
    for chunk in _chunks(sorted(set(pks))):
        for pk, topic in conn.execute(_TOPICS_OF_PKS, {"pks": list(chunk)}):
            topics.setdefault(int(pk), set()).add(topic)
    return topics


def _version_clause(versions: VersionFilter) -> ColumnElement[bool] | None:
    if versions.all:
        return None
    o = t.objects
    options: list[ColumnElement[bool]] = []
    if versions.first:
        options.append(o.c.is_first == true())
    if versions.last:
        options.append(o.c.is_last == true())
    if versions.exact:
        options.append(o.c.version_us.in_(sorted(versions.exact)))
    if not options:
        return false()
    return or_(*options)


def _clear_flag(
    version_us: int,
    stored: dict[int, tuple[int, str]],
    fresh: dict[int, int],
    rows: list[dict[str, Any]],
    clear: set[int],
    flag: str,
) -> None:
    if version_us in fresh:
        rows[fresh[version_us]][flag] = False
    else:
        clear.add(stored[version_us][0])


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _redact(message: str) -> str:
    """Drop anything that looks like a password from a driver message."""
    import re

    return re.sub(r"(password[=:]\s*)\S+", r"\1***", message, flags=re.IGNORECASE)
