"""Crypto primitives benchmark: Ed25519, DSSE envelopes, HPKE sealing.

    .venv/bin/python benchmarks/crypto_bench.py [--runs 7] [--markdown]

Each figure is the median over ``--runs`` runs of the mean time per operation
in a run (single thread). The item is a STIX bundle of about 4 KiB.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.crypto._encoding import canonical_json
from tisa.crypto._statement_base import _parse_cached
from tisa.crypto.dsse import parse_envelope
from tisa.crypto.items import ItemStatement, item_content, new_item_statement
from tisa.crypto.sealing import generate_seal_key, open_sealed, seal
from tisa.crypto.signed import sign_statement, verify_statement
from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, log_verifier
from tisa.ledger.note import Ed25519Signer
from tisa.ledger.receipt_proofs import verify_receipt_proof
from tisa.ledger.tlog_proof import CheckpointCache

TARGET_BYTES = 4096


def stix_bundle(size: int = TARGET_BYTES) -> dict[str, Any]:
    """A deterministic bundle of indicators whose canonical JSON is ~``size`` bytes."""
    rng = uuid.UUID("6f0b6d2c-1a9e-4c1e-9d7a-2b3c4d5e6f70").int
    objects: list[dict[str, Any]] = []
    bundle: dict[str, Any] = {"type": "bundle", "id": f"bundle--{uuid.UUID(int=rng)}"}
    while len(canonical_json({**bundle, "objects": objects})) < size - 400:
        n = len(objects)
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=(rng + n + 1) % 2**128)}",
                "created": "2019-08-23T00:00:00.000Z",
                "modified": "2019-08-23T00:00:00.000Z",
                "name": f"Launch-site telemetry relay {n}",
                "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
                "pattern_type": "stix",
                "valid_from": "2019-08-23T00:00:00Z",
                "labels": ["nk-missile"],
            }
        )
    result = {**bundle, "objects": objects}
    pad = size - len(canonical_json(result)) - len(',"description":""')
    objects[0]["description"] = "Observed launch preparation. " * (pad // 29) + "." * (pad % 29)
    assert len(canonical_json(result)) == size
    return result


def per_op_us(fn: Callable[[], object], runs: int, run_seconds: float = 0.2) -> tuple[float, float]:
    """(median, best) microseconds per call over ``runs`` runs."""
    fn()  # warm up
    n = 1
    while True:  # pick an iteration count so that one run takes about run_seconds
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= run_seconds / 8:
            n = max(n, int(n * run_seconds / elapsed))
            break
        n *= 2
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples), min(samples)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--markdown", action="store_true", help="print a docs/benchmarks.md table")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    kor, jpn_seal = Ed25519PrivateKey.generate(), generate_seal_key()
    network = {"KOR": kor.public_key()}
    bundle = stix_bundle()
    fields: dict[str, Any] = {
        "originator": "KOR",
        "recipient": "JPN",
        "path": ("KOR", "JPN"),
        "item_id": bundle["id"],
        "item_version": "2019-08-23T00:00:00.000Z",
        "level": "SECRET",
        "topics": ("nk-missile",),
        "created": "2019-09-02T10:00:00Z",
        "content": bundle,
    }
    statement = new_item_statement(**fields)
    wire = sign_statement(statement, kor).to_json()
    body = canonical_json(bundle)
    header = statement.header_bytes()
    sealed_body = seal(body, jpn_seal.public_key(), recipient="JPN", aad=header)
    message = b"x" * 64
    signature = kor.sign(message)
    public = kor.public_key()
    sealed_statement = new_item_statement(**fields, seal_to=jpn_seal.public_key())

    # A receipt: JPN's tlog-proof of its `received` entry (checkpoint signed by JPN).
    jpn = Ed25519PrivateKey.generate()
    jpn_log = MemoryEventLog(origin=log_origin("JPN"), signer=Ed25519Signer(
        name=log_origin("JPN"), private_key=jpn))
    indexes = jpn_log.record([LogEntry(
        kind=EntryKind.RECEIVED, at="2019-09-02T10:06:00Z", item_id=bundle["id"],
        item_version=1, from_party="KOR", to_party="JPN", originator="KOR",
        envelope_sha256=f"{i:064x}") for i in range(256)])
    receipt = jpn_log.receipt_proofs(indexes)[100]
    receipt_checks: dict[str, Any] = {
        "receiver": "JPN", "log_verifiers": [log_verifier("JPN", jpn.public_key())],
        "envelope_sha256": f"{100:064x}", "originator": "KOR", "item_id": bundle["id"],
        "from_party": "KOR"}
    cached = CheckpointCache()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("Ed25519 sign (64 B)", lambda: kor.sign(message)),
        ("Ed25519 verify (64 B)", lambda: public.verify(signature, message)),
        (
            "item build + envelope sign (4 KiB bundle)",
            lambda: sign_statement(new_item_statement(**fields), kor).to_json(),
        ),
        ("envelope sign only (4 KiB bundle)", lambda: sign_statement(statement, kor)),
        (
            # a receiver sees each envelope once: the statement's parse cache is emptied
            "envelope parse + verify + statement parse",
            lambda: (_parse_cached.cache_clear(),
                     verify_statement(parse_envelope(wire), network, ItemStatement)),
        ),
        (
            "receipt (tlog-proof) verify",
            lambda: verify_receipt_proof(receipt, **receipt_checks, checkpoint_cache=None),
        ),
        (
            "receipt verify, checkpoint cached",
            lambda: verify_receipt_proof(receipt, **receipt_checks, checkpoint_cache=cached),
        ),
        (
            "HPKE seal (4 KiB)",
            lambda: seal(body, jpn_seal.public_key(), recipient="JPN", aad=header),
        ),
        (
            "HPKE open (4 KiB)",
            lambda: open_sealed(sealed_body, jpn_seal, recipient="JPN", aad=header),
        ),
        ("sealed item open + check (4 KiB)", lambda: item_content(sealed_statement, jpn_seal)),
    ]
    load_before = _load_average()
    results = [(name, per_op_us(fn, args.runs)) for name, fn in cases]

    machine = (
        f"{os.cpu_count()} CPU(s), {cpu_model()}; Python {platform.python_version()}, "
        f"cryptography {version('cryptography')}"
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"machine: {machine}\ndate: {when}\nbundle: {len(body)} bytes, envelope {len(wire)} bytes"
    )
    print(f"load average before: {load_before}; median of {args.runs} runs, single thread\n")
    if args.markdown:
        print("| operation | median µs/op | best run µs/op | ops/s (median) |")
        print("|---|---:|---:|---:|")
        for name, (us, best) in results:
            print(f"| {name} | {us:.1f} | {best:.1f} | {1e6 / us:,.0f} |")
    else:
        for name, (us, best) in results:
            print(f"{name:45} {us:9.1f} µs (best {best:7.1f})  {1e6 / us:10,.0f}/s")


if __name__ == "__main__":
    main()
