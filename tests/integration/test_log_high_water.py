"""The high-water file (``DIR/log-checkpoint``) is raised after the commit that stored its
checkpoint. A failure there must not be reported as a failed append (the entries are
stored; a caller told otherwise retries and logs them twice), a lagging file is caught up
by the next signature, and concurrent writers never mix or lower it."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
from log_fixtures import entry, open_log, signer

from tisa.errors import IntegrityError
from tisa.ledger.entries import EntryKind
from tisa.store.log_signing import HighWaterFile


def test_a_high_water_failure_after_the_commit_is_not_a_failed_append(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # From the review. A real failure, no stand-in: the node home's directory is gone when
    # the file is raised (the review's example was a full disk; both are an OSError there).
    home = tmp_path / "home"
    home.mkdir()
    mark = home / "log-checkpoint"
    s = signer("JPN")
    log = open_log(database_url, s, mark)
    try:
        assert log.record([entry(0)], checkpoint=True) == [0]
        shutil.rmtree(home)
        received = [entry(i, kind=EntryKind.RECEIVED, frm="KOR", to="JPN") for i in (1, 2)]
        try:
            with caplog.at_level(logging.ERROR, logger="tisa.ledger"):
                indexes = log.record(received, checkpoint=True)
        except IntegrityError:
            indexes = None
        size = log.size
        # Either the append succeeded (and says so) or nothing was appended.
        assert (indexes, size) in (([1, 2], 3), (None, 1)), (indexes, size)
        assert "high-water file" in caplog.text  # the lag is logged, not hidden

        # The database holds the checkpoint; the lagging file is caught up by the next one.
        latest = log.reader.latest_note()
        assert latest is not None and latest[0] == 3
        home.mkdir()
        assert log.record([entry(3)], checkpoint=True) == [3]
        signed = log.reader.latest_note()
        assert signed is not None and signed[0] == 4 and mark.read_bytes() == signed[1]
    finally:
        log.close()


def test_a_lagging_high_water_file_is_safe_at_start_and_caught_up(
        database_url: str, tmp_path: Path) -> None:
    mark = tmp_path / "log-checkpoint"
    s = signer()
    log = open_log(database_url, s, mark)
    log.record([entry(0), entry(1)], checkpoint=True)
    old = mark.read_bytes()
    log.record([entry(2)], checkpoint=True)
    log.close()
    mark.write_bytes(old)  # as if raising it to the second checkpoint had failed
    log = open_log(database_url, s, mark)  # the start-up check accepts an earlier checkpoint
    try:
        signed = log.sign_checkpoint()
        assert signed is None  # the tree did not grow since the stored checkpoint
        assert log.record([entry(3)], checkpoint=True) == [3]
        latest = log.reader.latest_note()
        assert latest is not None and latest[0] == 4 and mark.read_bytes() == latest[1]
    finally:
        log.close()


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
