"""The high-water file (``DIR/log-checkpoint``): concurrent writers never mix or lower it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tisa.store.log_signing import HighWaterFile


def _note(size: int) -> bytes:
    # The file's check reads the size from the note's second line; the write does not
    # verify (the log opens the note before every signature).
    return f"tisa.test/log\n{size}\n{'r' * 43}=\n\n— tisa.test/log {size:064d}\n".encode()


def test_concurrent_high_water_writers_never_mix_fail_or_lower_it(tmp_path: Path) -> None:
    mark = HighWaterFile(tmp_path / "log-checkpoint")
    threads, rounds = 4, 150
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(first: int) -> None:
        start.wait()
        try:
            for i in range(rounds):  # the threads' sizes interleave, so most writes replace
                mark.write(_note(first + i * threads))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t + 1,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert mark.read() == _note(threads * rounds)  # the highest, whole
    assert [p.name for p in tmp_path.iterdir()] == ["log-checkpoint"]  # no temp left


def test_each_high_water_write_uses_its_own_temporary_file(tmp_path: Path) -> None:
    # The old write used one temporary name per process (``log-checkpoint.<pid>.tmp``):
    # two threads writing at once shared it. Something at that name must not matter.
    (tmp_path / f"log-checkpoint.{os.getpid()}.tmp").mkdir()
    mark = HighWaterFile(tmp_path / "log-checkpoint")
    mark.write(_note(1))
    mark.write(_note(2))
    mark.write(_note(1))  # an earlier one never replaces a later one
    assert mark.read() == _note(2)
