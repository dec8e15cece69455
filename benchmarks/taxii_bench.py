"""TAXII node benchmark: POST ingest into ``local`` and GET page latency as the collection
grows, against a real ``tisa serve`` (SQLite, optionally PostgreSQL) and, side by side,
medallion 3.0.0 (the OASIS reference server, memory backend) at the sizes it handles.

A benchmark, not a test: prints Markdown rows for docs/benchmarks.md.

    .venv/bin/python benchmarks/taxii_bench.py --sizes 10000,100000,1000000 \
        [--postgres-url postgresql://...] [--medallion-python /path/to/venv/bin/python]

medallion is not a project dependency: install it into a separate virtual environment
(``python3 -m venv /tmp/medallion && /tmp/medallion/bin/pip install medallion==3.0.0``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tisa.api.service import TaxiiNode
from tisa.api.sharing import load_node_network
from tisa.api.stix_input import read_object
from tisa.config import init_node_home, load_node_settings
from tisa.crypto.passwords import hash_password
from tisa.store.ports import NewObject, UserRecord, Viewer
from tisa.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[1]
NETWORK = ROOT / "scenarios" / "korea-japan-2019.toml"
TAXII = "application/taxii+json;version=2.1"
USER, PASSWORD = "bench", "bench-password-not-secret"
HEADERS = {"Accept": TAXII, "Content-Type": TAXII}


def indicator(i: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "name": f"benchmark indicator {i}",
        "description": "an address seen relaying missile telemetry",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}']",
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def ingest_http(url: str, total: int, *, clients: int, bundle: int = 100) -> float:
    """POST ``total`` objects in bundles; return objects per second."""
    per_client = total // clients
    errors: list[str] = []

    # Bodies are made before the clock starts: the clients share the server's two cores.
    bodies = [
        [
            json.dumps({"objects": [indicator(c * per_client + s + i) for i in range(bundle)]})
            for s in range(0, per_client, bundle)
        ]
        for c in range(clients)
    ]

    def run(c: int) -> None:
        with httpx.Client(timeout=120, auth=(USER, PASSWORD)) as client:
            client.get(url, params={"limit": "1"}, headers={"Accept": TAXII})  # log in
            for body in bodies[c]:
                r = client.post(url, content=body, headers=HEADERS)
                if r.status_code != 202:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    return

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    return per_client * clients / elapsed


def page_latencies(url: str, *, requests: int, limit: int = 100,
                   added_after: Callable[[], str | None] = lambda: None) -> list[float]:
    """GET pages of ``limit``: each sample starts at a random position (added_after) and
    follows one ``next``; both requests are timed."""
    times: list[float] = []
    with httpx.Client(timeout=600, auth=(USER, PASSWORD)) as client:
        client.get(url, params={"limit": str(limit)}, headers={"Accept": TAXII})  # warm
        while len(times) < requests:
            params = {"limit": str(limit)}
            after = added_after()
            if after:
                params["added_after"] = after
            began = time.perf_counter()
            r = client.get(url, params=params, headers={"Accept": TAXII})
            times.append(time.perf_counter() - began)
            body = r.json()
            if r.status_code != 200:
                raise SystemExit(f"GET failed: {r.status_code} {r.text[:200]}")
            if body.get("next"):
                began = time.perf_counter()
                r = client.get(url, params={**params, "next": body["next"]},
                               headers={"Accept": TAXII})
                times.append(time.perf_counter() - began)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class TisaTarget:
    def __init__(self, workdir: Path, database_url: str | None) -> None:
        self.home = workdir / "node"
        init_node_home(self.home, party="KOR", network_file=NETWORK)
        if database_url:
            with (self.home / "node.toml").open("a") as f:
                f.write(f'database_url = "{database_url}"\n')
        settings = load_node_settings(self.home)
        self.store = SqlStore.open(settings.database_url)
        self.store.add_user(UserRecord(name=USER, password_hash=hash_password(PASSWORD),
                                       clearance_rank=3, topics=None, admin=True))
        self.node = TaxiiNode(party="KOR", network=load_node_network(NETWORK, "KOR"),
                              store=self.store, secret=settings.secret)
        self.node.start()
        self.local = self.node.by_title("local").id
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tisa", "serve", str(self.home), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(self.base + "/taxii2/", self.process)
        self.objects_url = f"{self.base}/api/collections/{self.local}/objects/"
        self.count = 1  # the extension-definition

    def fill_to(self, size: int) -> None:
        """Top up through the store's ingest (the POST path minus HTTP), 1,000 a batch."""
        while self.count < size:
            n = min(1000, size - self.count)
            parts: list[NewObject] = []
            for i in range(n):
                p = read_object(i, indicator(self.count + i))
                parts.append(NewObject(object_id=p.object_id, type=p.type,
                                       spec_version=p.spec_version, version=p.version,
                                       version_us=p.version_us, level_rank=0,
                                       topics=frozenset(), body=p.body, digest=p.digest))
            self.store.ingest(collection_id=self.local, owner=USER, parts=parts,
                              status_id=str(uuid.uuid4()), viewer=Viewer.system())
            self.count += n

    def settle(self) -> None:
        """After a bulk load, what an operator (or autovacuum, a little later) does:
        refresh the planner's statistics, so the measurement is not of the load."""
        if self.store.is_postgresql:
            with self.store.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM (ANALYZE) objects"
                )

    def added_range(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from tisa.store import tables as t
        with self.store.engine.connect() as conn:
            lo, hi = conn.execute(select(func.min(t.objects.c.date_added_us),
                                         func.max(t.objects.c.date_added_us))).one()
        return int(lo), int(hi)

    def close(self) -> None:
        stop(self.process)
        self.store.close()


def random_after(lo: int, hi: int) -> Callable[[], str | None]:
    from tisa.api.timestamps import format_timestamp
    rng = random.Random(1)
    return lambda: format_timestamp(rng.randint(lo, hi))


def bench_tisa(label: str, sizes: list[int], ingest: int, clients: int,
               database_url: str | None) -> list[str]:
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tisa-bench-") as tmp:
        target = TisaTarget(Path(tmp), database_url)
        try:
            rate = ingest_http(target.objects_url, ingest, clients=clients)
            target.count += ingest
            rows.append(f"| tisa {label} | POST ingest, bundles of 100, {clients} clients | "
                        f"{rate:,.0f} objects/s | ≥ 5,000 |")
            print(rows[-1], flush=True)
            for size in sizes:
                began = time.perf_counter()
                target.fill_to(size)
                fill = time.perf_counter() - began
                target.settle()
                lo, hi = target.added_range()
                times = page_latencies(target.objects_url, requests=300,
                                       added_after=random_after(lo, hi))
                rss, hwm = rss_mb(target.process.pid)
                rows.append(
                    f"| tisa {label} | GET page of 100 at {size:,} objects | p50 "
                    f"{pct(times, 0.5):.1f} ms, p99 {pct(times, 0.99):.1f} ms (n={len(times)}); "
                    f"server RSS {rss:.0f} MB (peak {hwm:.0f}) | p99 ≤ 20 ms |")
                print(rows[-1], f"(filled in {fill:.0f} s)", flush=True)
        finally:
            target.close()
    return rows


def bench_medallion(python: str, sizes: list[int]) -> list[str]:
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="medallion-bench-") as tmp:
        collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
        data = {
            "/discovery": {"title": "bench", "default": "http://127.0.0.1/api1/",
                           "api_roots": ["http://127.0.0.1/api1/"]},
            "api1": {
                "information": {"title": "bench", "versions": [TAXII],
                                "max_content_length": 100_000_000},
                "status": [],
                "collections": [{"id": collection, "title": "local", "can_read": True,
                                 "can_write": True, "media_types": [], "objects": [],
                                 "manifest": []}],
            },
        }
        (Path(tmp) / "data.json").write_text(json.dumps(data))
        config = {"backend": {"module": "medallion.backends.memory_backend",
                              "module_class": "MemoryBackend",
                              "filename": str(Path(tmp) / "data.json")},
                  "users": {USER: PASSWORD}, "taxii": {"max_page_size": 100}}
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        port = free_port()
        process = subprocess.Popen(
            [str(Path(python).parent / "medallion"), "--port", str(port),
             str(Path(tmp) / "config.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/taxii2/", process)
        url = f"{base}/api1/collections/{collection}/objects/"
        try:
            count = 0
            for size in sizes:
                began = time.perf_counter()
                rate = ingest_http(url, size - count, clients=1)
                elapsed = time.perf_counter() - began
                count = size
                rows.append(f"| medallion 3.0.0 (memory) | POST ingest to {size:,}, bundles of "
                            f"100, 1 client | {rate:,.0f} objects/s ({elapsed:.1f} s) | |")
                print(rows[-1], flush=True)
                times = page_latencies(url, requests=6)
                rss, _hwm = rss_mb(process.pid)
                rows.append(
                    f"| medallion 3.0.0 (memory) | GET page of 100 at {size:,} objects | p50 "
                    f"{pct(times, 0.5):.0f} ms, max {max(times) * 1000:.0f} ms "
                    f"(n={len(times)}); RSS {rss:.0f} MB | |")
                print(rows[-1], flush=True)
        finally:
            stop(process)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--ingest", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres-url", default=os.environ.get("TISA_BENCH_POSTGRES_URL"))
    parser.add_argument("--postgres-sizes", default="10000,100000")
    parser.add_argument("--medallion-python", default=None)
    parser.add_argument("--medallion-sizes", default="500,1000,2000")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}", flush=True)
    rows: list[str] = []
    if args.sizes:
        rows += bench_tisa("SQLite", [int(s) for s in args.sizes.split(",")], args.ingest,
                           args.clients, None)
    if args.postgres_url:
        import psycopg

        name = f"tisa_bench_{uuid.uuid4().hex[:8]}"  # a fresh database for each run
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            rows += bench_tisa("PostgreSQL", [int(s) for s in args.postgres_sizes.split(",")],
                               args.ingest, args.clients,
                               args.postgres_url.rsplit("/", 1)[0] + "/" + name)
        finally:
            with psycopg.connect(args.postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.medallion_python:
        rows += bench_medallion(args.medallion_python,
                                [int(s) for s in args.medallion_sizes.split(",")])
    print("\n| server | measure | result | target |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
