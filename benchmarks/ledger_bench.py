"""Benchmark of the pure ledger core (no storage): append, proofs, full recompute.

Run: ``.venv/bin/python benchmarks/ledger_bench.py [--entries N] [--runs R]``.
Prints a Markdown section for ``docs/benchmarks.md``; figures are medians of
R runs on the same in-memory data (real canonical entries of about 220 bytes).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tisa.ledger.audit import audit_log
from tisa.ledger.checkpoint import Checkpoint
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.merkle import MerkleTree, inclusion_proof, leaf_hash, root_of
from tisa.ledger.proofs import verify_consistency, verify_inclusion
from tisa.ledger.tiles import TiledNodeReader, build_tile, tiles_for_size


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_entries(n: int) -> list[bytes]:
    kinds = list(EntryKind)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(
            LogEntry(
                kind=kind,
                at=f"2026-11-29T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                item_id=f"item-{i:08d}",
                item_version=1,
                from_party="KR",
                to_party="JP",
                originator="KR",
                envelope_sha256=f"{i:064x}",
                reason="benchmark" if kind is EntryKind.REFUSED else None,
            ).to_bytes()
        )
    return out


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    results: list[float] = []
    value: object = None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        results.append(time.perf_counter() - start)
    return statistics.median(results), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    n, runs = args.entries, args.runs
    load_before = os.getloadavg()[0]

    entries = make_entries(n)
    avg_size = sum(map(len, entries)) / n

    def append_all() -> MerkleTree:
        tree = MerkleTree()
        for e in entries:
            tree.append(e)
        return tree

    append_s, tree_obj = timed(append_all, runs)
    assert isinstance(tree_obj, MerkleTree)
    tree = tree_obj
    root = tree.root()

    rng = random.Random(6962)
    indices = [rng.randrange(n) for _ in range(args.proofs)] + [n - 1]

    def proofs() -> None:
        for i in indices:
            proof = tree.inclusion_proof(i)
            verify_inclusion(i, n, leaf_hash(entries[i]), proof, root)

    proof_s, _ = timed(proofs, runs)
    # The same proofs from stored tiles (as a store serves them), tiles held in a dict.
    served = {(r.level, r.index, r.width): build_tile(tree.node, r) for r in tiles_for_size(n)}

    def tiled_proofs() -> None:
        # A fresh reader per proof: no tile cache helps across requests.
        for i in indices:
            reader = TiledNodeReader(lambda lv, ix, w: served[(lv, ix, w)], n)
            verify_inclusion(i, n, leaf_hash(entries[i]), inclusion_proof(reader, i, n), root)

    tiled_s, _ = timed(tiled_proofs, runs)
    olds = [rng.randrange(1, n) for _ in range(args.proofs)]

    def consistency() -> None:
        for old in olds:
            verify_consistency(old, n, tree.root(old), root, tree.consistency_proof(old))

    cons_s, _ = timed(consistency, runs)
    recompute_s, recomputed = timed(lambda: root_of([leaf_hash(e) for e in entries]), runs)
    assert recomputed == root
    checkpoints = [
        Checkpoint(origin="bench.example/log", size=s, root_hash=tree.root(s))
        for s in range(0, n + 1, max(1, n // 1000))
    ]

    def audit() -> None:
        report = audit_log(entries, checkpoints, origin="bench.example/log")
        assert report.ok, report.findings[:3]

    audit_s, _ = timed(audit, runs)
    per_proof_us = proof_s / len(indices) * 1e6
    per_cons_us = cons_s / len(olds) * 1e6
    per_tiled_us = tiled_s / len(indices) * 1e6
    load_after = os.getloadavg()[0]
    print("## Ledger (pure core)")
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; Python "
        f"{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
    )
    print(
        f"Method: `benchmarks/ledger_bench.py --entries {n} --runs {runs}`, one process, "
        f"in memory, no storage; median of {runs} runs; {n:,} canonical entries of "
        f"{avg_size:.0f} bytes on average. 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after (other processes share the machine)."
    )
    print()
    print("| What | Result |")
    print("|---|---|")
    print(
        f"| Append (leaf hash + tree update) | {n / append_s:,.0f} entries/s ({append_s:.2f} s) |"
    )
    print(
        f"| Inclusion proof at {n:,} leaves, generate + verify | {per_proof_us:.0f} µs "
        f"(median over runs of {len(indices):,} random leaves incl. the right edge) |"
    )
    print(
        f"| Inclusion proof at {n:,} leaves from stored tiles (`TiledNodeReader`, no cache "
        f"across proofs), generate + verify | {per_tiled_us:.0f} µs |"
    )
    print(f"| Consistency proof to {n:,}, generate + verify | {per_cons_us:.0f} µs |")
    print(f"| Recompute root from {n:,} entries | {recompute_s:.2f} s |")
    print(
        f"| `audit_log`: parse + recompute {n:,} entries, check {len(checkpoints):,} "
        f"checkpoints | {audit_s:.2f} s |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
