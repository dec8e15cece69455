"""One contract for the SQL store, run against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from tisa.store.ports import (
    CollectionRecord,
    Cursor,
    NewObject,
    ObjectQuery,
    OutboxDraft,
    Rejected,
    UserRecord,
    VersionFilter,
    Viewer,
)
from tisa.store.sql import SqlStore

LOCAL = CollectionRecord(id="0c3f6b1e-0000-4000-8000-000000000001", title="local")
OUT = CollectionRecord(id="0c3f6b1e-0000-4000-8000-000000000002", title="to-JPN")
EVERYONE = Viewer.system()


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    s = SqlStore.open(database_url)
    s.ensure_collections([LOCAL, OUT])
    yield s
    s.close()


def obj(object_id: str | None = None, *, version_us: int = 1_000_000, rank: int = 0,
        topics: frozenset[str] = frozenset(), note: str = "", outbox: OutboxDraft | None = None,
        kind: str = "indicator") -> NewObject:
    object_id = object_id or f"{kind}--{uuid.uuid4()}"
    body = json.dumps({"id": object_id, "type": kind, "v": version_us, "note": note},
                      sort_keys=True)
    return NewObject(object_id=object_id, type=kind, spec_version="2.1",
                     version=f"v{version_us}", version_us=version_us, level_rank=rank,
                     topics=topics, body=body, digest=hashlib.sha256(body.encode()).hexdigest(),
                     outbox=outbox, pending_message="awaiting delivery" if outbox else "")


def ingest(store: SqlStore, *parts: NewObject | Rejected, collection: str = LOCAL.id) -> list[str]:
    status = store.ingest(collection_id=collection, owner="alice", parts=parts,
                          status_id=str(uuid.uuid4()), viewer=EVERYONE)
    return [e.state for e in status.entries]


def all_ids(store: SqlStore, viewer: Viewer = EVERYONE, **kw: object) -> list[str]:
    ids: list[str] = []
    after: Cursor | None = None
    while True:
        page = store.page(ObjectQuery(collection_id=LOCAL.id, viewer=viewer, after=after,
                                      limit=7, **kw))  # type: ignore[arg-type]
        ids.extend(o.object_id for o in page.objects)
        if not page.more:
            return ids
        after = page.last_cursor


def test_migrations_are_idempotent(database_url: str) -> None:
    SqlStore.open(database_url).close()
    SqlStore.open(database_url).close()


def test_pages_cover_everything_in_date_added_order(store: SqlStore) -> None:
    objs = [obj() for _ in range(30)]
    assert ingest(store, *objs[:10]) == ["success"] * 10
    ingest(store, *objs[10:])
    assert all_ids(store) == [o.object_id for o in objs]
    page = store.page(ObjectQuery(collection_id=LOCAL.id, viewer=EVERYONE, limit=100))
    added = [o.date_added_us for o in page.objects]
    assert added == sorted(added)
    assert len(set(added)) == len(added)


def test_identical_repost_is_success_and_stores_nothing(store: SqlStore) -> None:
    o = obj()
    assert ingest(store, o) == ["success"]
    assert ingest(store, o, o) == ["success", "success"]
    assert all_ids(store) == [o.object_id]


def test_different_object_same_version_is_a_failure(store: SqlStore) -> None:
    o = obj()
    ingest(store, o)
    changed = obj(o.object_id, note="changed")
    assert ingest(store, changed) == ["failure"]


def test_rejected_parts_are_recorded_as_failures(store: SqlStore) -> None:
    status = store.ingest(collection_id=LOCAL.id, owner="alice", status_id=str(uuid.uuid4()),
                          viewer=EVERYONE,
                          parts=[obj(), Rejected(object_id="x--1", version="", message="bad")])
    assert [e.state for e in status.entries] == ["success", "failure"]
    again = store.status(status.id)
    assert again == status


def test_versions_first_last_all(store: SqlStore) -> None:
    oid = f"indicator--{uuid.uuid4()}"
    ingest(store, obj(oid, version_us=2_000_000))
    ingest(store, obj(oid, version_us=1_000_000), obj(oid, version_us=3_000_000))

    def versions(vf: VersionFilter) -> list[int]:
        page = store.page(ObjectQuery(collection_id=LOCAL.id, viewer=EVERYONE, versions=vf))
        return sorted(o.version_us for o in page.objects)

    assert versions(VersionFilter()) == [3_000_000]
    assert versions(VersionFilter(first=True, last=False)) == [1_000_000]
    assert versions(VersionFilter(all=True)) == [1_000_000, 2_000_000, 3_000_000]
    assert versions(VersionFilter(last=False, exact=frozenset({2_000_000}))) == [2_000_000]
    removed = store.delete_object(collection_id=LOCAL.id, object_id=oid, viewer=EVERYONE,
                                  versions=VersionFilter(last=True), spec_versions=frozenset())
    assert removed == 1
    assert versions(VersionFilter()) == [2_000_000]


def test_clearance_and_topics_filter_in_sql(store: SqlStore) -> None:
    secret = obj(rank=2, topics=frozenset({"nk-missile"}))
    conf = obj(rank=1, topics=frozenset({"nk-nuclear"}))
    open_ = obj(rank=0)
    ingest(store, secret, conf, open_)
    analyst = Viewer(clearance_rank=1)
    assert all_ids(store, analyst) == [conf.object_id, open_.object_id]
    missile_only = Viewer(clearance_rank=3, topics=frozenset({"nk-missile"}))
    assert all_ids(store, missile_only) == [secret.object_id, open_.object_id]
    assert not store.object_exists(LOCAL.id, secret.object_id, analyst)
    assert store.object_exists(LOCAL.id, secret.object_id, missile_only)


def test_filters_by_id_type_and_added_after(store: SqlStore) -> None:
    a, b = obj(), obj(kind="malware")
    ingest(store, a)
    ingest(store, b)
    assert all_ids(store, types=frozenset({"malware"})) == [b.object_id]
    assert all_ids(store, ids=frozenset({a.object_id})) == [a.object_id]
    first = store.page(ObjectQuery(collection_id=LOCAL.id, viewer=EVERYONE)).objects[0]
    assert all_ids(store, added_after_us=first.date_added_us) == [b.object_id]


def test_outbox_rows_are_written_with_the_share_and_finish_updates_status(
    store: SqlStore,
) -> None:
    share = obj(outbox=OutboxDraft(recipient="JPN", route='{"decision": "direct"}'))
    status = store.ingest(collection_id=OUT.id, owner="alice", parts=[share],
                          status_id=str(uuid.uuid4()), viewer=EVERYONE)
    assert [e.state for e in status.entries] == ["pending"]
    claimed = store.claim_outbox(limit=10)
    assert [(c.recipient, c.object_id) for c in claimed] == [("JPN", share.object_id)]
    assert store.claim_outbox(limit=10) == []
    store.finish_outbox(claimed[0].id, state="success", message="delivered to JPN")
    final = store.status(status.id)
    assert final is not None
    assert [(e.state, e.message) for e in final.entries] == [("success", "delivered to JPN")]
    again = store.ingest(collection_id=OUT.id, owner="alice", parts=[share],
                         status_id=str(uuid.uuid4()), viewer=EVERYONE)
    assert [e.state for e in again.entries] == ["success"]


def test_users_round_trip(store: SqlStore) -> None:
    user = UserRecord(name="kim", password_hash="$argon2id$x", clearance_rank=2,
                      topics=frozenset({"nk-missile"}), admin=False)
    store.add_user(user)
    assert store.user("kim") == user
    assert store.user("nobody") is None


def test_marking_definitions_are_found_across_collections(store: SqlStore) -> None:
    md = obj(kind="marking-definition")
    ingest(store, md)
    assert set(store.marking_definitions([md.object_id, "marking-definition--x"])) == {
        md.object_id}


def test_concurrent_writers_and_a_paging_reader_lose_and_duplicate_nothing(
    store: SqlStore,
) -> None:
    writers, batches, size = 4, 15, 10
    seen: list[str] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(batches):
                ingest(store, *[obj() for _ in range(size)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        after: Cursor | None = None
        try:
            while True:
                finished = done.is_set()
                page = store.page(ObjectQuery(collection_id=LOCAL.id, viewer=EVERYONE,
                                              after=after, limit=13))
                seen.extend(o.object_id for o in page.objects)
                after = page.last_cursor or after
                if finished and not page.more:
                    return
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    reader.join()
    assert errors == []
    assert len(seen) == writers * batches * size
    assert len(set(seen)) == len(seen)
