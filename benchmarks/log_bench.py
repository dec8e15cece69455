"""Benchmark of the durable transparency log (``SqlEventLog``) and ``tisa audit``.

Run: ``.venv/bin/python benchmarks/log_bench.py [--entries N] [--runs R] [--postgres URL]``
(``TISA_TEST_POSTGRES_URL`` is used when ``--postgres`` is not given; without either the
PostgreSQL rows are skipped). Prints a Markdown section for ``docs/benchmarks.md``.

* append rate, SQLite (synchronous=FULL) and PostgreSQL: one caller in batches of 1,000,
  and 16 threads each recording 10 entries a call (their calls coalesce into one commit);
* an inclusion proof from the database at ``N`` entries (tiles read by primary key; cold:
  the tile cache emptied before every proof);
* ``tisa audit DIR`` of the ``N``-entry log, as a subprocess (parse every entry, recompute
  the tree, every tile and every checkpoint).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_bench import cpu_model

from tisa.api.log_node import open_event_log
from tisa.config import init_node_home, load_node_settings
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.merkle import inclusion_proof, leaf_hash
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.proofs import verify_inclusion
from tisa.store.sql_event_log import SqlEventLog

NETWORK = Path(__file__).parent.parent / "tests" / "integration" / "data" / "network.toml"


def make_entries(start: int, n: int) -> list[LogEntry]:
    kinds = [EntryKind.SENT, EntryKind.RECEIVED, EntryKind.ROUTE_DECIDED]
    return [
        LogEntry(kind=kinds[i % 3], at="2026-11-29T08:00:00.000000Z", item_id=f"item-{i:08d}",
                 item_version=1, from_party="KOR", to_party="JPN", originator="KOR",
                 envelope_sha256=f"{i:064x}")
        for i in range(start, start + n)
    ]


def new_log(url: str) -> SqlEventLog:
    s = Ed25519Signer(name="tisa.kor/log", private_key=Ed25519PrivateKey.generate())
    return SqlEventLog.open(url, origin=s.name, signer=s)


def append_batched(url: str, n: int) -> float:
    log = new_log(url)
    batches = [make_entries(i, 1000) for i in range(0, n, 1000)]
    t = time.perf_counter()
    for b in batches:
        log.record(b)
    log.sign_checkpoint()
    dt = time.perf_counter() - t
    log.close()
    return n / dt


def append_concurrent(url: str, n: int, threads: int = 16) -> float:
    log = new_log(url)
    per = n // threads
    work = [[make_entries(t * per + j, 10) for j in range(0, per, 10)] for t in range(threads)]

    def run(calls: list[list[LogEntry]]) -> None:
        for c in calls:
            log.record(c)

    pool = [threading.Thread(target=run, args=(w,)) for w in work]
    t = time.perf_counter()
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    dt = time.perf_counter() - t
    log.close()
    return per * threads / dt


def fresh_postgres(admin: str) -> tuple[str, str]:
    name = "tisa_bench_" + secrets.token_hex(4)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rpartition("/")[0] + "/" + name, name


def drop_postgres(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def median_rate(label: str, fn: object, runs: int) -> float:
    rates = [fn() for _ in range(runs)]  # type: ignore[operator]
    print(f"  {label}: {[round(r) for r in rates]}", file=sys.stderr)
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--append-entries", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--postgres", default=os.environ.get("TISA_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="tisa-logbench-"))
    load_before = os.getloadavg()[0]
    counter = iter(range(10**6))

    def sqlite_url() -> str:
        return f"sqlite:///{work / f'append-{next(counter)}.db'}"

    n = args.append_entries
    rate = median_rate("sqlite batched", lambda: append_batched(sqlite_url(), n), args.runs)
    rows.append(("Append, SQLite, batches of 1,000, durable commits", f"{rate:,.0f} entries/s"))
    rate = median_rate("sqlite 16 threads", lambda: append_concurrent(sqlite_url(), n),
                       args.runs)
    rows.append(("Append, SQLite, 16 threads × 10 entries a call (group commit)",
                 f"{rate:,.0f} entries/s"))
    if args.postgres:
        for label, fn in (("batches of 1,000", append_batched),
                          ("16 threads × 10 entries a call", append_concurrent)):
            def one(fn: object = fn) -> float:
                url, name = fresh_postgres(args.postgres)
                try:
                    return float(fn(url, n))  # type: ignore[operator]
                finally:
                    drop_postgres(args.postgres, name)

            rate = median_rate(f"postgres {label}", one, args.runs)
            rows.append((f"Append, PostgreSQL, {label}", f"{rate:,.0f} entries/s"))

    home = work / "kor"
    init_node_home(home, party="KOR", network_file=NETWORK)
    log = open_event_log(load_node_settings(home))
    t = time.perf_counter()
    for start in range(0, args.entries, 10_000):
        log.record(make_entries(start, min(10_000, args.entries - start)))
        log.sign_checkpoint()
    fill = time.perf_counter() - t
    size = log.size
    rows.append((f"Fill {size:,} entries (batches of 10,000, a checkpoint after each)",
                 f"{fill:.1f} s ({size / fill:,.0f} entries/s)"))
    rng = random.Random(7)
    picks = [rng.randrange(size) for _ in range(2000)] + [size - 1]
    root = log.reader.latest_note()
    assert root is not None
    cold, warm = [], []
    for i in picks:
        log.reader.forget_cache()
        t = time.perf_counter()
        inclusion_proof(log.reader.node_reader(size), i, size)
        cold.append(time.perf_counter() - t)
    for i in picks:
        t = time.perf_counter()
        proof = inclusion_proof(log.reader.node_reader(size), i, size)
        warm.append(time.perf_counter() - t)
    data = next(log.reader.entries(picks[0], picks[0] + 1))[1]
    from tisa.ledger.checkpoint import parse_checkpoint_text
    from tisa.ledger.note import parse_note

    cp = parse_checkpoint_text(parse_note(root[1]).text)
    verify_inclusion(picks[0], size, leaf_hash(data),
                     inclusion_proof(log.reader.node_reader(size), picks[0], size), cp.root_hash)
    del proof
    log.close()
    rows.append((f"Inclusion proof at {size:,} entries from the database, cold tile cache",
                 f"{statistics.median(cold) * 1e6:,.0f} µs median, "
                 f"p99 {sorted(cold)[int(len(cold) * 0.99)] * 1e6:,.0f} µs"))
    rows.append((f"Inclusion proof at {size:,} entries, warm (full tiles cached)",
                 f"{statistics.median(warm) * 1e6:,.0f} µs median"))
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tisa", "audit", str(home)],
                              capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"audit failed: {done.stdout}{done.stderr}")
    print(f"  audit: {[round(x, 1) for x in times]}", file=sys.stderr)
    rows.append((f"`tisa audit DIR` of {size:,} entries, {size // 10_000} checkpoints",
                 f"{statistics.median(times):.1f} s"))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print("## Transparency log (durable)\n")
    print(f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; Python "
          f"{sys.version.split()[0]}; {now}. Method: `benchmarks/log_bench.py --entries "
          f"{args.entries} --runs {args.runs}`; appends of {n:,} entries on a fresh database "
          f"per run, median of {args.runs} runs. 1-minute load average {load_before:.2f} "
          f"before, {os.getloadavg()[0]:.2f} after.\n")
    print("| What | Result |\n|---|---|")
    for what, result in rows:
        print(f"| {what} | {result} |")


if __name__ == "__main__":
    main()
