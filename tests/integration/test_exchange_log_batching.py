"""Events recorded inside an exchange batch reach the durable log in one call at its
commit, and vanish with it on rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchange_cluster import Cluster

from tisa.exchange.context import Exchange
from tisa.ledger.entries import EntryKind, parse_entry
from tisa.store.sql_event_log import SqlEventLog


def record(ex: Exchange, n: int) -> int:
    return ex.record(EntryKind.SENT, item_id=f"indicator--{n}", version_us=n,
                     from_party="KOR", to_party="JPN", originator="KOR")


def test_batch_events_are_recorded_together_at_commit(tmp_path: Path) -> None:
    ex = Cluster(tmp_path, ("KOR", "JPN"))["KOR"].exchange
    log = ex.events
    assert isinstance(log, SqlEventLog)
    before = log.size
    assert record(ex, 0) == before  # outside a batch: recorded at once, index returned
    with ex.store.unit():
        assert record(ex, 1) == -1
        assert record(ex, 2) == -1
        assert log.size == before + 1  # nothing yet: the batch has not committed
    assert log.size == before + 3
    ids = [parse_entry(data).item_id for _, data in log.reader.entries()][-3:]
    assert ids == ["indicator--0", "indicator--1", "indicator--2"]


def test_a_rolled_back_batch_records_nothing(tmp_path: Path) -> None:
    ex = Cluster(tmp_path, ("KOR", "JPN"))["KOR"].exchange
    log = ex.events
    assert isinstance(log, SqlEventLog)
    before = log.size
    def failing_batch() -> None:
        with ex.store.unit():
            record(ex, 1)
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError):
        failing_batch()
    with ex.store.unit():
        record(ex, 2)
    assert log.size == before + 1
    assert parse_entry(list(log.reader.entries())[-1][1]).item_id == "indicator--2"
