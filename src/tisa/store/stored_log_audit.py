"""Audit a node's own stored log: every entry, every tile, every checkpoint, every cosignature.

The pure ``audit_log`` recomputes the tree from the stored entries and checks each
stored checkpoint (and the high-water file's) against it. On top, this module
recomputes every hash tile from the entries and compares it with the stored tile
row, byte for byte, so a changed byte anywhere — entry, tile, checkpoint, its
size or root column, a cosignature — is a finding, covered by a checkpoint or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from tisa.errors import InvalidInput
from tisa.ledger.audit import Finding, FindingKind, audit_log
from tisa.ledger.checkpoint import parse_checkpoint_text
from tisa.ledger.merkle import leaf_hash, root_of
from tisa.ledger.note import Verifier, parse_note
from tisa.ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from tisa.store import ledger_tables as lt
from tisa.store.entry_parsing import malformed_findings, parse_elsewhere
from tisa.store.sql_log_reader import SqlLogReader, blob
from tisa.store.tile_nodes import inner_nodes

__all__ = ["StoredLogAudit", "audit_stored_log"]

Progress = Callable[[int], None]


@dataclass(frozen=True, kw_only=True)
class StoredLogAudit:
    entries: int
    checkpoints: int
    tiles: int
    cosignatures: int
    findings: tuple[Finding, ...]


def _finding(kind: FindingKind, where: str, message: str) -> Finding:
    return Finding(kind=kind, where=where, message=message)


def audit_stored_log(
    reader: SqlLogReader,
    *,
    origin: str,
    log_verifier: Verifier,
    witnesses: Sequence[Verifier] = (),
    high_water: bytes | None = None,
    progress: Progress | None = None,
    database_url: str | None = None,
    parallel_from: int = 50_000,
) -> StoredLogAudit:
    """With ``database_url``, a log of ``parallel_from`` entries or more is parsed in a
    second process while this one recomputes the tree (same findings, about half the time
    on two cores)."""
    findings: list[Finding] = []
    elsewhere = None
    if database_url is not None and reader.stored_size() >= parallel_from:
        elsewhere = parse_elsewhere(database_url)
    leaves: list[bytes] = []

    def entries() -> Iterator[bytes]:
        for position, (idx, data) in enumerate(reader.entries()):
            if idx != position:
                findings.append(_finding(FindingKind.MISSING_ENTRIES, f"entry {position}",
                                         f"the next stored entry has index {idx}"))
                return
            leaves.append(leaf_hash(data))
            if progress is not None and position % 10_000 == 0:
                progress(position)
            yield data

    notes = reader.checkpoint_notes()
    checked: list[bytes] = [*notes, *([] if high_water is None else [high_water])]
    result = audit_log(entries(), checked, origin=origin, log_verifiers=[log_verifier],
                       check_entries=elsewhere is None)
    findings.extend(result.findings)
    if elsewhere is not None:
        pool, parsed = elsewhere
        with pool:
            findings.extend(malformed_findings(*parsed.result()))
    if progress is not None:
        progress(result.entries)
    stored_size = reader.stored_size()
    if stored_size != len(leaves):
        findings.append(_finding(FindingKind.MISSING_ENTRIES, "log_state",
                                 f"the log records size {stored_size} but stores "
                                 f"{len(leaves)} entries"))
    tiles = _check_tiles(reader, leaves, findings)
    _check_checkpoint_rows(reader, findings)
    cosignatures = _check_cosignatures(reader, witnesses, findings)
    return StoredLogAudit(entries=result.entries, checkpoints=result.checkpoints, tiles=tiles,
                          cosignatures=cosignatures, findings=tuple(findings))


def _check_tiles(reader: SqlLogReader, leaves: list[bytes], findings: list[Finding]) -> int:
    """Every stored tile equals the one recomputed from the entries; none missing or extra."""
    levels = [leaves]
    while len(levels[-1]) >= TILE_WIDTH:
        below = levels[-1]
        levels.append([root_of(below[i:i + TILE_WIDTH])
                       for i in range(0, len(below) - TILE_WIDTH + 1, TILE_WIDTH)])
    expected: dict[tuple[int, int], bytes] = {}
    for level, hashes in enumerate(levels):
        for index in range(0, len(hashes), TILE_WIDTH):
            expected[(level, index // TILE_WIDTH)] = b"".join(hashes[index:index + TILE_WIDTH])
    count = 0
    for level, index, stored, inner in reader.tile_rows():
        count += 1
        want = expected.pop((level, index), None)
        if want is not None and inner is not None and inner != inner_nodes(want):
            findings.append(_finding(FindingKind.ROOT_MISMATCH, f"tile {level}/{index}",
                                     "its stored inner nodes differ from the recomputed ones"))
        if want is None:
            findings.append(_finding(FindingKind.ROOT_MISMATCH, f"tile {level}/{index}",
                                     "a stored tile beyond the stored entries"))
        elif want != stored:
            findings.append(_finding(FindingKind.ROOT_MISMATCH, f"tile {level}/{index}",
                                     f"differs from the hashes of the stored entries "
                                     f"(level {TILE_HEIGHT * level} of the tree)"))
    for level, index in sorted(expected):
        findings.append(_finding(FindingKind.MISSING_ENTRIES, f"tile {level}/{index}",
                                 "missing from the store"))
    return count


def _check_checkpoint_rows(reader: SqlLogReader, findings: list[Finding]) -> None:
    with reader.engine.connect() as c:
        rows = c.execute(select(lt.log_checkpoints.c.size, lt.log_checkpoints.c.root_hash,
                                lt.log_checkpoints.c.note)).all()
    for size, root, note in rows:
        try:
            cp = parse_checkpoint_text(parse_note(blob(note)).text)
        except InvalidInput:
            continue  # reported by audit_log
        if cp.size != int(size) or cp.root_hash != blob(root):
            findings.append(_finding(FindingKind.ROOT_MISMATCH, f"checkpoint row {size}",
                                     "its size or root column differs from its signed note"))


def _check_cosignatures(reader: SqlLogReader,
                        witnesses: Sequence[Verifier], findings: list[Finding]) -> int:
    by_name = {w.name: w for w in witnesses}
    with reader.engine.connect() as c:
        rows = c.execute(select(lt.log_cosignatures.c.size, lt.log_cosignatures.c.witness,
                                lt.log_cosignatures.c.line, lt.log_checkpoints.c.note)
                         .select_from(lt.log_cosignatures.outerjoin(
                             lt.log_checkpoints,
                             lt.log_cosignatures.c.size == lt.log_checkpoints.c.size))).all()
    for size, witness, line, note in rows:
        where = f"cosignature by {witness} on size {size}"
        verifier = by_name.get(str(witness))
        if note is None or verifier is None:
            findings.append(_finding(FindingKind.BAD_SIGNATURE, where,
                                     "no such checkpoint or no such witness in the network"))
            continue
        try:
            cosigned = parse_note(blob(note) + str(line).encode())
        except InvalidInput as exc:
            findings.append(_finding(FindingKind.BAD_SIGNATURE, where, str(exc)))
            continue
        sig = cosigned.signatures[-1]
        if (sig.name, sig.key_id) != (verifier.name, verifier.key_id) or not verifier.verify(
            cosigned.text.encode(), sig.signature
        ):
            findings.append(_finding(FindingKind.BAD_SIGNATURE, where, "does not verify"))
    return len(rows)
