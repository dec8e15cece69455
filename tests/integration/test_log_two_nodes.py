"""Two real ``tisa serve`` processes on loopback witness each other's logs, and the
sender's ``tisa audit`` catches a peer that dropped an entry it received."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Server, free_port, make_home, stop_server
from log_fixtures import entry, network_with

from tisa.api.log_node import open_event_log
from tisa.config import load_node_settings, node_public_key, node_signing_key
from tisa.ledger.entries import EntryKind
from tisa.ledger.log_names import log_verifier, witness_verifier
from tisa.ledger.merkle import leaf_hash
from tisa.ledger.tlog_proof import verify_tlog_proof


def serve(home: Path, port: int) -> Server:
    log = home / f"serve-{port}.log"
    cmd = [sys.executable, "-m", "tisa", "serve", str(home), "--port", str(port)]
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"tisa serve exited: {log.read_text()}")
        try:
            httpx.get(url + "/log/checkpoint", timeout=1)
            return Server(url=url, process=process, log=log)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"tisa serve did not start: {log.read_text()}") from None
            time.sleep(0.1)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[dict[str, tuple[Path, Server]]]:
    homes = {p: make_home(tmp_path / p.lower(), party=p) for p in ("KOR", "JPN")}
    ports = {p: free_port() for p in homes}
    text = network_with({p: node_public_key(h) for p, h in homes.items()},
                        {p: f"http://127.0.0.1:{ports[p]}" for p in homes})
    for home in homes.values():
        (home / "network.toml").write_text(text)
    servers = {p: serve(h, ports[p]) for p, h in homes.items()}
    try:
        yield {p: (homes[p], servers[p]) for p in homes}
    finally:
        for s in servers.values():
            stop_server(s)


def audit(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tisa", "audit", str(home), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def wait_for_cosignature(url: str, witness: str, head: bytes) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = httpx.get(url + "/log/checkpoint")
        ok = r.status_code == 200 and r.content.startswith(head)
        if ok and f"— {witness} ".encode() in r.content:
            return r.content
        time.sleep(0.2)
    raise AssertionError(f"no cosignature by {witness} on {url}/log/checkpoint")


def test_witnessed_logs_and_a_dropped_entry(pair: dict[str, tuple[Path, Server]]) -> None:
    kor_home, kor = pair["KOR"]
    jpn_home, jpn = pair["JPN"]
    sent = open_event_log(load_node_settings(kor_home))
    got = open_event_log(load_node_settings(jpn_home))
    try:
        sent.record([entry(i) for i in range(5)])
        # JPN logs every item it received but item-3
        got.record([entry(i, kind=EntryKind.RECEIVED) for i in (0, 1, 2, 4)])
    finally:
        sent.close()
        got.close()
    wait_for_cosignature(kor.url, "tisa.jpn/witness", b"tisa.kor/log\n5\n")
    wait_for_cosignature(jpn.url, "tisa.kor/witness", b"tisa.jpn/log\n4\n")

    # KOR's receipt for an entry carries JPN's cosignature and verifies offline
    kor_log = open_event_log(load_node_settings(kor_home))
    try:
        receipt = kor_log.receipt_proof(2)
    finally:
        kor_log.close()
    key = node_signing_key(kor_home).public_key()
    verify_tlog_proof(
        receipt, leaf_hash=leaf_hash(entry(2).to_bytes()),
        log_verifiers=[log_verifier("KOR", key)], origin="tisa.kor/log",
        witness_verifiers=[witness_verifier("JPN", node_signing_key(jpn_home).public_key())],
        witness_quorum=1)

    clean = audit(jpn_home, "--peer", "KOR", "--witness-quorum", "1")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "peer KOR: checkpoint of size 5, 5 entries" in clean.stdout

    caught = audit(kor_home, "--peer", "JPN", "--json")
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert '"kind": "not-received"' in caught.stdout
    assert "item-3" in caught.stdout
