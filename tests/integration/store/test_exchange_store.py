"""The exchange store's set-based moves, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tisa.store.exchange_sql import ExchangeStore
from tisa.store.sql import SqlStore


@pytest.fixture
def store(database_url: str) -> Iterator[ExchangeStore]:
    sql = SqlStore.open(database_url)
    yield ExchangeStore(sql.engine)
    sql.close()


def hold(store: ExchangeStore, key: str, state: str) -> None:
    assert store.hold(envelope_sha256=key, envelope="{}", originator="KOR", recipient="JPN",
                      item_id=f"indicator--{key[:8]}", item_version="v1", state=state,
                      request_id=None, consent=None, expires_us=0, messages=())


def test_advance_held_moves_only_items_in_an_expected_state(store: ExchangeStore) -> None:
    keys = {state: state[0] * 64 for state in ("forward", "awaiting", "dropped")}
    for state, key in keys.items():
        hold(store, key, state)
    moves = {key: [("JPN", "item", f"body of {state}", key)] for state, key in keys.items()}
    moves["9" * 64] = [("JPN", "item", "body of an item never held", "9" * 64)]

    moved = store.advance_held(moves, expect=["forward", "awaiting"], state="forwarded")

    assert moved == {keys["forward"], keys["awaiting"]}
    assert {r["envelope_sha256"] for r in store.held_in_state("forwarded")} == moved
    assert [r["envelope_sha256"] for r in store.held_in_state("dropped")] == [keys["dropped"]]
    queued = store.due_messages(100)
    assert sorted(r["body"] for r in queued) == ["body of awaiting", "body of forward"]
    # A second move from the same states finds nothing left to move and queues nothing.
    assert store.advance_held(moves, expect=["forward", "awaiting"], state="forwarded") == set()
    assert len(store.due_messages(100)) == 2


def test_advance_held_inside_a_unit_rolls_back_with_it(store: ExchangeStore) -> None:
    hold(store, "a" * 64, "forward")
    moved: set[str] = set()

    def failing_batch() -> None:
        with store.unit():
            moved.update(store.advance_held({"a" * 64: [("JPN", "item", "x", "a" * 64)]},
                                            expect=["forward"], state="forwarded"))
            raise RuntimeError("the batch fails after the move")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert moved == {"a" * 64}
    assert [r["envelope_sha256"] for r in store.held_in_state("forward")] == ["a" * 64]
    assert store.due_messages(100) == []


def test_holds_inside_a_unit_go_in_together_and_only_new_ones_queue_messages(
        store: ExchangeStore) -> None:
    hold(store, "a" * 64, "awaiting")  # held before: its duplicate below changes nothing
    store.messages_done([int(r["id"]) for r in store.due_messages(10)])

    def request(key: str) -> list[tuple[str, str, str, str]]:
        return [("KOR", "consent-request", f"ask for {key[0]}", key)]

    with store.unit():
        answers = [store.hold(envelope_sha256=key, envelope="{}", originator="KOR",
                              recipient="JPN", item_id=f"indicator--{key[:8]}",
                              item_version="v1", state="awaiting", request_id=None,
                              consent=None, expires_us=0, messages=request(key))
                   for key in ("a" * 64, "b" * 64, "b" * 64, "c" * 64)]
        # False only for the same ref again in this batch (one held before is found at
        # the commit: its messages are not queued, below)
        assert answers == [True, True, False, True]
        # Not written yet: the batch's holds go in together just before it commits.
        assert [r["envelope_sha256"] for r in store.held_in_state("awaiting")] == ["a" * 64]
    held = {r["envelope_sha256"] for r in store.held_in_state("awaiting")}
    assert held == {"a" * 64, "b" * 64, "c" * 64}
    assert sorted(r["body"] for r in store.due_messages(10)) == ["ask for b", "ask for c"]


def test_on_held_runs_only_for_the_holds_inserted_before_the_units_hooks(
        store: ExchangeStore) -> None:
    """A hold's ``on_held`` (what the hub records for it) runs only if its row goes in:
    not for a ref held before (a concurrent request's, committed first), not for the
    same ref twice in one unit; inside a unit, at the flush, before the unit's
    ``before_commit`` hooks (so what it records goes out with the unit)."""
    ran: list[str] = []

    def hold_noting(key: str) -> bool:
        return store.hold(envelope_sha256=key, envelope="{}", originator="KOR",
                          recipient="JPN", item_id=f"indicator--{key[:8]}",
                          item_version="v1", state="forwarded", request_id=None,
                          consent=None, expires_us=0, messages=(),
                          on_held=lambda: ran.append(key[0]))

    assert hold_noting("a" * 64) and ran == ["a"]  # outside a unit: at once
    assert not hold_noting("a" * 64) and ran == ["a"]
    with store.unit():
        store.before_commit(lambda: ran.append("hook"))
        assert [hold_noting(k) for k in ("a" * 64, "b" * 64, "b" * 64, "c" * 64)] == [
            True, True, False, True]
        assert ran == ["a"]  # not yet: at the flush
    assert ran == ["a", "b", "c", "hook"]


def test_holds_inside_a_unit_that_fails_are_not_kept(store: ExchangeStore) -> None:
    def failing_batch() -> None:
        with store.unit():
            hold(store, "d" * 64, "forward")
            raise RuntimeError("the batch fails after the hold")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert store.held_in_state("forward") == []
    assert store.due_messages(10) == []


@pytest.mark.parametrize("on_wire", [
    set(range(3, 9)) | {12, 13},  # runs of ids (as batches on the wire are)
    set(range(1, 41, 2)),  # scattered: more runs than are excluded as ranges
])
def test_due_messages_leave_out_the_excluded_ids(store: ExchangeStore, on_wire: set[int]
                                                 ) -> None:
    for n in range(40):
        store.enqueue("JPN", "item", f"body {n}", f"ref-{n}")
    ids = [int(r["id"]) for r in store.due_messages(100)]
    excluded = {ids[i - 1] for i in on_wire}
    due = store.due_messages(100, peer="JPN", exclude=excluded)
    assert [int(r["id"]) for r in due] == [i for i in ids if i not in excluded]
    assert len(store.due_messages(5, exclude=excluded)) == 5
