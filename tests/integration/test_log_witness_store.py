"""Witness state is advanced only by compare-and-swap, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from log_fixtures import entry, open_log, signer

from tisa.ledger.checkpoint import Checkpoint
from tisa.ledger.witness import WitnessState
from tisa.store.sql_witness_store import SqlWitnessStore


def test_compare_and_swap(database_url: str) -> None:
    log = open_log(database_url, signer())  # migrates the schema
    store = SqlWitnessStore(log.engine)
    try:
        a = WitnessState(size=1, root_hash=b"a" * 32)
        b = WitnessState(size=2, root_hash=b"b" * 32)
        assert store.witness_state("o") is None
        assert store.swap_witness_state("o", None, a)
        assert not store.swap_witness_state("o", None, b)  # someone already created it
        assert not store.swap_witness_state("o", WitnessState(size=1, root_hash=b"x" * 32), b)
        assert store.witness_state("o") == a
        wins: list[bool] = []
        threads = [threading.Thread(target=lambda n=n: wins.append(store.swap_witness_state(
            "o", a, WitnessState(size=2 + n, root_hash=bytes([n]) * 32)))) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(True) == 1  # exactly one concurrent request advances the state
    finally:
        log.close()


def test_peer_checkpoints_are_remembered(database_url: str) -> None:
    log = open_log(database_url, signer())
    store = SqlWitnessStore(log.engine)
    try:
        log.record([entry(1)])
        signed = log.sign_checkpoint()
        assert signed is not None
        assert store.peer_checkpoint("JPN") is None
        store.save_peer_checkpoint("JPN", signed.checkpoint, signed.to_bytes())
        bigger = Checkpoint(origin=signed.checkpoint.origin, size=2, root_hash=b"r" * 32)
        store.save_peer_checkpoint("JPN", bigger, signed.to_bytes())
        got = store.peer_checkpoint("JPN")
        assert got is not None and got[1] == signed.to_bytes()
    finally:
        log.close()
