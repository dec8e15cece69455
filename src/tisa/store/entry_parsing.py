"""Strict parsing of every stored entry, in a second process, for ``tisa audit``.

Parsing (canonical JSON, every field checked) is most of an audit's cost, and it
needs no part of the tree: a worker process reads and parses the entries on the
other core while the auditing process recomputes the tree and tiles.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

from tisa.errors import InvalidInput
from tisa.ledger.audit import Finding, FindingKind
from tisa.ledger.entries import parse_entry
from tisa.store.sql import engine_for
from tisa.store.sql_log_reader import SqlLogReader

__all__ = ["MAX_LISTED", "malformed_entries", "malformed_findings", "parse_elsewhere"]

MAX_LISTED = 100


def malformed_entries(url: str) -> tuple[int, list[tuple[int, str]]]:
    """``(count, [(index, diagnostics), ...])`` of the stored entries that do not parse."""
    engine = engine_for(url)
    try:
        count = 0
        listed: list[tuple[int, str]] = []
        for idx, data in SqlLogReader(engine).entries():
            try:
                parse_entry(data)
            except InvalidInput as exc:
                count += 1
                if len(listed) < MAX_LISTED:
                    listed.append((idx, exc.diagnostics()))
        return count, listed
    finally:
        engine.dispose()


Malformed = tuple[int, list[tuple[int, str]]]


def parse_elsewhere(url: str) -> tuple[ProcessPoolExecutor, Future[Malformed]]:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return pool, pool.submit(malformed_entries, url)


def malformed_findings(count: int, listed: list[tuple[int, str]]) -> list[Finding]:
    """The same findings ``audit_log`` reports for malformed entries."""
    out = [Finding(kind=FindingKind.MALFORMED_ENTRY, where=f"entry {i}", message=m)
           for i, m in listed]
    if count > MAX_LISTED:
        out.append(Finding(kind=FindingKind.MALFORMED_ENTRY, where="entries",
                           message=f"{count} malformed entries in all; the first "
                           f"{MAX_LISTED} are listed"))
    return out
