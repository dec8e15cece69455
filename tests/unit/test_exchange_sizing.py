"""Batches cut by count and by bytes; a message that cannot fit even alone is set apart."""

from __future__ import annotations

from typing import Any

from tisa.exchange.sizing import fits, request_bytes, split_batches


def rows(*sizes: int) -> list[dict[str, Any]]:
    return [{"id": i, "body": "x" * size} for i, size in enumerate(sizes)]


def ids(batches: list[list[dict[str, Any]]]) -> list[list[int]]:
    return [[r["id"] for r in batch] for batch in batches]


def test_batches_never_exceed_the_byte_limit() -> None:
    limit = request_bytes(30_000)
    batches, too_large = split_batches(rows(*[10_000] * 7), count=200, limit=limit)
    assert too_large == []
    assert ids(batches) == [[0, 1], [2, 3], [4, 5], [6]]
    for batch in batches:
        assert fits([r["body"] for r in batch], limit)[0]


def test_count_limit_and_messages_sent_alone() -> None:
    batches, _ = split_batches(rows(*[10] * 5), count=2, limit=1 << 20, alone={1})
    assert ids(batches) == [[1], [0, 2], [3, 4]]


def test_a_message_that_cannot_fit_alone_is_set_apart() -> None:
    limit = request_bytes(30_000)
    batches, too_large = split_batches(rows(100, 50_000, 100), count=200, limit=limit)
    assert ids(batches) == [[0, 2]]
    assert [r["id"] for r in too_large] == [1]
