"""tisa serve moves its start-up heap out of the cyclic collector's view."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tisa.api.server import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_startup_heap_is_frozen_and_later_garbage_still_collected(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    freeze_startup_heap()
    assert gc.get_freeze_count() > 1000  # the interpreter and what the imports built

    class Cycle:
        other: object

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2  # a cycle made after the freeze is still found
