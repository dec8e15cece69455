"""Exchange benchmark: three real ``tisa serve`` nodes (KOR, USA, JPN) on loopback, SQLite.

* direct items/s: N items posted to KOR's ``to-JPN`` (as of 2017, GSOMIA in force), from
  the first POST until every status entry is ``success`` (signed receipt back);
* relayed items/s with up-front consent (``consent_to``, as of 2015: relay through USA);
* p50 end-to-end relay latency: one item at a time, from just before the POST to the
  moment KOR's node records ``success`` (the receipt's proof verified; the share's
  ``updated_us`` in KOR's database, same clock), while the client polls the status
  every 25 ms to know when to post the next. Also shown: the latency a client
  polling every 2 ms sees, POST to the read that shows ``success`` — those 500
  status reads a second are work for KOR's node too, and slow what they measure.

A benchmark, not a test: prints Markdown rows for docs/benchmarks.md.

    .venv/bin/python benchmarks/exchange_bench.py [--items 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tisa.config import (
    DATABASE_FILE,
    init_node_home,
    load_node_settings,
    node_public_key,
    node_seal_public_key,
)
from tisa.crypto.passwords import hash_password
from tisa.store.ports import UserRecord
from tisa.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[1]
NETWORK = ROOT / "scenarios" / "korea-japan-2019.toml"
TAXII = "application/taxii+json;version=2.1"
USER, PASSWORD = "bench", "bench-password-not-secret"
EXT = "extension-definition--e85c7fa0-c18a-46d5-ac9f-9d19977f175f"
CREATED = "2026-11-01T00:00:00.000Z"


def marking(**extra: Any) -> dict[str, Any]:
    return {"type": "marking-definition", "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}", "created": CREATED, "name": "bench",
            "extensions": {EXT: {"extension_type": "property-extension", "level": "SECRET",
                                 "originator": "KOR", "topics": ["nk-missile"], **extra}}}


def indicator(i: int, ref: str) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
            "created": CREATED, "modified": CREATED, "name": f"bench indicator {i}",
            "indicator_types": ["malicious-activity"], "pattern_type": "stix",
            "pattern": f"[ipv4-addr:value = '10.0.{i // 256 % 256}.{i % 256}']",
            "valid_from": CREATED, "object_marking_refs": [ref]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Nodes:
    def __init__(self, root: Path, as_of: str) -> None:
        self.homes = {}
        for code in ("KOR", "USA", "JPN"):
            home = root / code.lower()
            init_node_home(home, party=code, network_file=NETWORK)
            store = SqlStore.open(load_node_settings(home).database_url)
            store.add_user(UserRecord(name=USER, password_hash=hash_password(PASSWORD),
                                      clearance_rank=3, topics=None, admin=True))
            store.close()
            self.homes[code] = home
        self.ports = {c: free_port() for c in self.homes}
        text = NETWORK.read_text()
        for code, home in self.homes.items():
            text = re.sub(rf"(\[parties\.{code}\]\n)",
                          rf'\1endpoint = "http://127.0.0.1:{self.ports[code]}"\n'
                          rf'public_key = "{node_public_key(home)}"\n'
                          rf'seal_key = "{node_seal_public_key(home)}"\n', text)
        self.processes = []
        for code, home in self.homes.items():
            (home / "network.toml").write_text(text)
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "tisa", "serve", str(home), "--port",
                 str(self.ports[code]), "--as-of", as_of],
                stdout=(home / "serve.log").open("wb"), stderr=subprocess.STDOUT))
        for code in self.homes:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{self.ports[code]}/taxii2/", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        self.kor = httpx.Client(base_url=f"http://127.0.0.1:{self.ports['KOR']}",
                                auth=(USER, PASSWORD), timeout=120,
                                headers={"Accept": TAXII, "Content-Type": TAXII})
        cols = self.kor.get("/api/collections/").json()["collections"]
        self.to_jpn = next(c["id"] for c in cols if c["title"] == "to-JPN")

    def post(self, objects: list[dict[str, Any]]) -> str:
        r = self.kor.post(f"/api/collections/{self.to_jpn}/objects/",
                          content=json.dumps({"objects": objects}))
        assert r.status_code == 202, r.text
        status_id: str = r.json()["id"]
        return status_id

    def done(self, status_id: str) -> tuple[int, int]:
        status = self.kor.get(f"/api/status/{status_id}/").json()
        return status["success_count"], status["failure_count"]

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU of each node process so far (Linux /proc)."""
        out = {}
        for code, p in zip(self.homes, self.processes, strict=True):
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[code] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return out

    def stop(self) -> None:
        for p in self.processes:
            p.send_signal(signal.SIGTERM)
        for p in self.processes:
            p.wait(timeout=60)


def throughput(nodes: Nodes, items: int, **marking_extra: Any
               ) -> tuple[float, tuple[float, float]]:
    """Items/s; the nodes' CPU milliseconds per item (less dependent on other load than
    the rate), all nodes together and the busiest one."""
    m = marking(**marking_extra)
    cpu = nodes.cpu_seconds()
    objects = [indicator(i, m["id"]) for i in range(items)]
    start = time.perf_counter()
    posts = [([m] if n == 0 else []) + objects[n:n + 500] for n in range(0, items, 500)]
    pending = [(nodes.post(batch), len(batch)) for batch in posts]
    # A client follows its statuses oldest first and re-reads only the first not yet
    # done (each read of a 500-entry status is work for KOR's node too).
    while pending:
        status_id, want = pending[0]
        success, failure = nodes.done(status_id)
        if failure:
            raise AssertionError(f"{failure} failure(s) in status {status_id}")
        if success == want:
            pending.pop(0)
        else:
            time.sleep(0.05)
    rate = items / (time.perf_counter() - start)
    after = nodes.cpu_seconds()
    per_node = {c: (after[c] - cpu[c]) * 1000 / items for c in after}
    print("    CPU ms per item by node: "
          + ", ".join(f"{c} {ms:.2f}" for c, ms in per_node.items()), flush=True)
    return rate, (sum(per_node.values()), max(per_node.values()))


def latency(nodes: Nodes, count: int, poll: float) -> tuple[list[float], list[float]]:
    """Single-item relays: (as the client saw them, polling every ``poll`` s; as KOR's
    node recorded them), in ms."""
    m = marking(consent_to=["JPN"])
    nodes.post([m, indicator(0, m["id"])])
    time.sleep(1)
    seen, recorded = [], []
    kor_db = sqlite3.connect(f"file:{nodes.homes['KOR'] / DATABASE_FILE}?mode=ro", uri=True)
    try:
        for i in range(count):
            item = indicator(i + 1, m["id"])
            posted_us = time.time_ns() // 1000
            start = time.perf_counter()
            status_id = nodes.post([item])
            while nodes.done(status_id)[0] < 1:
                time.sleep(poll)
            seen.append((time.perf_counter() - start) * 1000)
            (done_us,), = kor_db.execute(
                "SELECT updated_us FROM outbox WHERE object_id = ? AND state = 'success'",
                (item["id"],)).fetchall()
            recorded.append((done_us - posted_us) / 1000)
    finally:
        kor_db.close()
    return seen, recorded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-items", type=int, default=100)
    args = parser.parse_args()
    direct: list[float] = []
    relayed: list[float] = []
    p50s: list[float] = []
    p50s_2ms: list[float] = []
    direct_cpu: list[tuple[float, float]] = []
    relay_cpu: list[tuple[float, float]] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            nodes = Nodes(Path(tmp), "2017-05-14")
            try:
                rate, cpu = throughput(nodes, args.items)
                direct.append(rate)
                direct_cpu.append(cpu)
            finally:
                nodes.stop()
        with tempfile.TemporaryDirectory() as tmp:
            nodes = Nodes(Path(tmp), "2015-06-01")
            try:
                rate, cpu = throughput(nodes, args.items, consent_to=["JPN"])
                relayed.append(rate)
                relay_cpu.append(cpu)
                _, recorded = latency(nodes, args.latency_items, poll=0.025)
                p50s.append(statistics.median(recorded))
                seen_2ms, _ = latency(nodes, args.latency_items, poll=0.002)
                p50s_2ms.append(statistics.median(seen_2ms))
            finally:
                nodes.stop()
        print(f"run {run + 1}: direct {direct[-1]:.0f}/s ({direct_cpu[-1][0]:.2f} CPU ms/item), "
              f"relayed {relayed[-1]:.0f}/s ({relay_cpu[-1][0]:.2f} CPU ms/item), "
              f"relay p50 {p50s[-1]:.1f} ms (a client polling every 2 ms: {p50s_2ms[-1]:.1f})",
              flush=True)
    print(f"\nmachine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; load {os.getloadavg()}")
    print("| measure | median of runs | runs | target |\n|---|---|---|---|")
    print(f"| direct items/s | {statistics.median(direct):.0f} | "
          f"{', '.join(f'{x:.0f}' for x in direct)} | ≥ 1,000 |")
    print(f"| relayed items/s (up-front consent) | {statistics.median(relayed):.0f} | "
          f"{', '.join(f'{x:.0f}' for x in relayed)} | ≥ 500 |")
    for name, runs_cpu in (("direct", direct_cpu), ("relayed", relay_cpu)):
        total = statistics.median(c[0] for c in runs_cpu)
        busiest = statistics.median(c[1] for c in runs_cpu)
        # Each node is one Python process (one core at most, the GIL): two free cores carry
        # at most 2,000 / total items/s, and no more than the busiest node's 1,000 / ms.
        ceiling = min(2000 / total, 1000 / busiest)
        print(f"| {name}: nodes' CPU ms per item, all / busiest node (2 free cores: "
              f"~{ceiling:.0f}/s) | {total:.2f} / {busiest:.2f} | "
              f"{', '.join(f'{a:.2f} / {b:.2f}' for a, b in runs_cpu)} | |")
    print(f"| p50 relay latency ms, POST to success recorded at KOR | "
          f"{statistics.median(p50s):.1f} | {', '.join(f'{x:.1f}' for x in p50s)} | ≤ 50 |")
    print(f"| p50 relay latency ms, seen by a client polling every 2 ms | "
          f"{statistics.median(p50s_2ms):.1f} | {', '.join(f'{x:.1f}' for x in p50s_2ms)} | |")


if __name__ == "__main__":
    main()
