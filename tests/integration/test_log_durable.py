"""The durable EventLog on SQLite and PostgreSQL: appends, proofs, restarts, rollbacks."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from log_fixtures import entry, open_log, signer
from sqlalchemy import event

from tisa.errors import IntegrityError, InvalidInput
from tisa.ledger.checkpoint import open_checkpoint
from tisa.ledger.entries import EntryKind
from tisa.ledger.merkle import MerkleTree, leaf_hash
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.ledger.tiles import tiles_for_size, verify_tiles
from tisa.ledger.tlog_proof import parse_tlog_proof, verify_tlog_proof


def test_appends_prove_and_verify(database_url: str) -> None:
    s = signer()
    log = open_log(database_url, s)
    try:
        assert log.latest_checkpoint() is None
        first = log.record([entry(i) for i in range(300)])
        assert first == list(range(300))
        assert log.record([entry(300)]) == [300]
        signed = log.sign_checkpoint()
        assert signed is not None and signed.checkpoint.size == 301
        assert log.sign_checkpoint() is None  # nothing new, nothing signed
        tree = MerkleTree()
        for _, data in log.reader.entries():
            tree.append(data)
        assert tree.root() == signed.checkpoint.root_hash
        for i in (0, 255, 256, 300):
            proof = log.receipt_proof(i)
            verify_tlog_proof(proof, leaf_hash=leaf_hash(entry(i).to_bytes()),
                              log_verifiers=[s.verifier], origin=s.name)
        # a receipt for an entry past the checkpoint signs a new one first
        log.record([entry(301)])
        verify_tlog_proof(log.receipt_proof(301), leaf_hash=leaf_hash(entry(301).to_bytes()),
                          log_verifiers=[s.verifier], origin=s.name)
        size = log.size
        assert verify_tiles(lambda lv, ix, w: log.reader.tile(lv, ix, w), size, tree_root(log))
    finally:
        log.close()


def test_batch_receipt_proofs_carry_the_entries_and_verify(database_url: str) -> None:
    s = signer("JPN")
    log = open_log(database_url, s)
    try:
        assert log.receipt_proofs([]) == []
        received = [entry(i, kind=EntryKind.RECEIVED, frm="KOR", to="JPN") for i in range(300)]
        indexes = log.record(received)
        proofs = log.receipt_proofs(indexes)
        assert log.latest_checkpoint() is not None
        parsed = [parse_tlog_proof(p) for p in proofs]
        assert len({p.checkpoint_note for p in parsed}) == 1  # one checkpoint, signed once
        assert [p.extra for p in parsed] == [e.to_bytes() for e in received]
        for i, proof in zip(indexes, proofs, strict=True):
            verify_receipt_proof(proof, receiver="JPN", log_verifiers=[s.verifier],
                                 envelope_sha256=f"{i:064x}", originator="KOR",
                                 item_id=f"item-{i}", from_party="KOR")
        assert log.receipt_proof(299) == proofs[299]
        with pytest.raises(InvalidInput):
            log.receipt_proofs([0, 300])
    finally:
        log.close()


def test_entries_and_their_checkpoint_commit_together(database_url: str,
                                                      tmp_path: Path) -> None:
    """``record(..., checkpoint=True)``: the entries and a checkpoint that includes them in
    one durable commit (the high-water file raised after it); their receipts then need
    no signature of their own."""
    s = signer("JPN")
    mark = tmp_path / "log-checkpoint"
    log = open_log(database_url, s, mark)
    commits: list[object] = []
    try:
        assert log.record([entry(0)], checkpoint=True) == [0]  # the first checkpoint
        event.listen(log.engine, "commit", commits.append)
        received = [entry(i, kind=EntryKind.RECEIVED, frm="KOR", to="JPN") for i in (1, 2, 3)]
        indexes = log.record(received, checkpoint=True)
        assert (indexes, len(commits)) == ([1, 2, 3], 1)
        note = log.latest_checkpoint()
        assert note is not None and mark.read_bytes() == note
        assert open_checkpoint(note, [s.verifier], origin=s.name).checkpoint.size == 4
        proofs = log.receipt_proofs(indexes)
        assert len(commits) == 1  # proven against that checkpoint: nothing signed again
        assert {parse_tlog_proof(p).checkpoint_note for p in proofs} == {note}
        for i, proof in zip(indexes, proofs, strict=True):
            verify_receipt_proof(proof, receiver="JPN", log_verifiers=[s.verifier],
                                 envelope_sha256=f"{i:064x}", originator="KOR",
                                 item_id=f"item-{i}", from_party="KOR")
        assert log.record([entry(4)]) == [4]  # without: no checkpoint
        assert open_checkpoint(log.latest_checkpoint() or b"", [s.verifier],
                               origin=s.name).checkpoint.size == 4
    finally:
        log.close()


def tree_root(log: object) -> bytes:
    tree = MerkleTree()
    for _, data in log.reader.entries():  # type: ignore[attr-defined]
        tree.append(data)
    return tree.root()


def test_concurrent_callers_coalesce_without_gaps(database_url: str) -> None:
    s = signer()
    log = open_log(database_url, s)
    try:
        results: list[list[int]] = []
        lock = threading.Lock()

        def work(t: int) -> None:
            for j in range(20):
                got = log.record([entry(t * 1000 + j * 3 + k) for k in range(3)])
                with lock:
                    results.append(got)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        indexes = sorted(i for r in results for i in r)
        assert indexes == list(range(8 * 20 * 3))
        assert all(r == list(range(r[0], r[0] + 3)) for r in results)  # each batch contiguous
        assert log.sign_checkpoint() is not None
    finally:
        log.close()


@pytest.mark.postgres
def test_two_writers_on_one_postgresql(postgres_url: str) -> None:
    """Two log instances (as two processes would) append to one database: no gaps, no dups,
    and each signs only checkpoints consistent with the other's."""
    s = signer()
    a, b = open_log(postgres_url, s), open_log(postgres_url, s)
    try:
        got: list[int] = []

        def work(log: object, base: int) -> None:
            for j in range(30):
                got.extend(log.record([entry(base + j * 2), entry(base + j * 2 + 1)]))  # type: ignore[attr-defined]
                if j % 10 == 0:
                    log.sign_checkpoint()  # type: ignore[attr-defined]

        threads = [threading.Thread(target=work, args=(lg, n * 10_000))
                   for n, lg in enumerate((a, b))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(got) == list(range(120))
        a.sign_checkpoint()
        b.sign_checkpoint()
        latest = b.latest_checkpoint()
        assert latest is not None
        cp = open_checkpoint(latest, [s.verifier], origin=s.name).checkpoint
        assert cp.size == 120 and cp.root_hash == tree_root(a)
    finally:
        a.close()
        b.close()


def test_restart_keeps_consistency(database_url: str, tmp_path: Path) -> None:
    s = signer()
    mark = tmp_path / "log-checkpoint"
    log = open_log(database_url, s, mark)
    log.record([entry(i) for i in range(1000)])
    first = log.sign_checkpoint()
    log.close()
    log = open_log(database_url, s, mark)
    try:
        assert log.record([entry(1000)]) == [1000]
        second = log.sign_checkpoint()
        assert first is not None and second is not None
        assert second.checkpoint.size == 1001
        assert mark.read_bytes() == second.to_bytes()
        assert tree_root(log) == second.checkpoint.root_hash
    finally:
        log.close()


def test_rolled_back_database_refuses_to_sign(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tisa.db'}"
    mark = tmp_path / "log-checkpoint"
    s = signer()
    log = open_log(url, s, mark)
    log.record([entry(i) for i in range(10)])
    log.sign_checkpoint()
    log.close()
    shutil.copy(tmp_path / "tisa.db", tmp_path / "copy.db")
    log = open_log(url, s, mark)
    log.record([entry(i) for i in range(10, 20)])
    log.sign_checkpoint()
    log.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"tisa.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "copy.db", tmp_path / "tisa.db")
    with pytest.raises(IntegrityError, match="rolled back"):
        open_log(url, s, mark)
    # Even ignoring the start-up check, new entries cannot be signed over the lost ones.
    from tisa.store.log_signing import durable_engine
    from tisa.store.sql_event_log import SqlEventLog

    log = SqlEventLog(durable_engine(url), origin=s.name, signer=s, high_water=mark)
    try:
        with pytest.raises(IntegrityError):  # entries with their checkpoint: both or neither
            log.record([entry(99)], checkpoint=True)
        assert log.record([entry(i) for i in range(100, 115)]) == list(range(10, 25))
        with pytest.raises(IntegrityError):
            log.sign_checkpoint()
        with pytest.raises(IntegrityError):  # and stays refused, loudly
            log.latest_checkpoint()
    finally:
        log.close()


def test_tiles_match_the_spec_layout(tmp_path: Path) -> None:
    log = open_log(f"sqlite:///{tmp_path / 'l.db'}", signer())
    try:
        log.record([entry(i) for i in range(70_000 // 100)])
        size = log.size
        refs = tiles_for_size(size)
        for ref in refs:
            assert ref.level is not None
            data = log.reader.tile(ref.level, ref.index, ref.width)
            assert len(data) == 32 * ref.width
        bundle = log.reader.entry_bundle(0, 256)
        assert bundle[:2] == len(entry(0).to_bytes()).to_bytes(2, "big")
    finally:
        log.close()


def test_a_failed_commit_fails_every_caller_and_leaves_no_trace(database_url: str) -> None:
    from sqlalchemy import delete, insert

    from tisa.store import ledger_tables as lt

    log = open_log(database_url, signer())
    try:
        log.record([entry(i) for i in range(3)])
        with log.engine.begin() as c:  # a stray row where the next entry goes
            c.execute(insert(lt.log_entries).values(idx=4, data=b"stray"))
        with pytest.raises(IntegrityError, match="commit failed"):
            log.record([entry(3), entry(4)])
        assert log.size == 3
        with log.engine.begin() as c:
            c.execute(delete(lt.log_entries).where(lt.log_entries.c.idx == 4))
        assert log.record([entry(3), entry(4)]) == [3, 4]
        signed = log.sign_checkpoint()
        assert signed is not None and signed.checkpoint.root_hash == tree_root(log)
    finally:
        log.close()
