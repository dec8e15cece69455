"""``tisa audit DIR [--peer P ...] [--json]``: check the node's log and its peers' logs.

Exit 0 when every check held, 1 on any discrepancy, 2 on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tisa.api.log_node import log_peers
from tisa.api.peer_log_audit import PeerAudit, audit_peer
from tisa.cli.common import EXIT_DISCREPANCY, print_json, stderr, stdout
from tisa.cli.errors import reports_errors
from tisa.config import LOG_HIGH_WATER_FILE, load_network, load_node_settings, node_signing_key
from tisa.errors import ConfigError, InvalidInput
from tisa.ledger.audit import Finding
from tisa.ledger.entries import LogEntry, parse_entry
from tisa.ledger.log_names import log_origin, log_verifier, witness_verifier
from tisa.store.log_signing import durable_engine
from tisa.store.migrate import migrate
from tisa.store.sql_log_reader import SqlLogReader
from tisa.store.sql_witness_store import SqlWitnessStore
from tisa.store.stored_log_audit import StoredLogAudit, audit_stored_log


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=stderr, transient=True,
                    disable=not enabled)


def _advance(bar: Progress, task: TaskID) -> Callable[[int], None]:
    return lambda n: bar.update(task, completed=n)


@reports_errors
def audit(
    home: Annotated[Path, typer.Argument(help="the node home directory")],
    peer: Annotated[list[str] | None, typer.Option(
        "--peer", help="also audit this party's log and cross-check it (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON report")] = False,
    witness_quorum: Annotated[int, typer.Option(
        "--witness-quorum", help="cosignatures a peer checkpoint needs from known witnesses",
        min=0)] = 0,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="postgresql://... (default: the node's SQLite)")] = None,
) -> None:
    """Verify this node's log (entries, tiles, checkpoints), each --peer's checkpoint and
    tree over HTTP, and that every item sent or received is logged on both sides."""
    settings = load_node_settings(home, database_url=database_url)
    network = load_network(settings.network_path)
    peers = log_peers(network, settings.party)
    for code in peer or []:
        if code not in peers:
            raise InvalidInput(f"--peer {code}: not a party this node has an agreement with and "
                               f"a public key for (known: {', '.join(peers) or 'none'})")
        if peers[code].endpoint is None:
            raise InvalidInput(f"--peer {code}: the network file gives it no endpoint")
    key = node_signing_key(home).public_key()
    engine = durable_engine(settings.log_database_url)
    try:
        migrate(engine)
    except Exception as exc:
        raise ConfigError(f"cannot open the database: {exc}") from None
    reader = SqlLogReader(engine)
    mark_path = home / LOG_HIGH_WATER_FILE
    witnesses = [p.witness_verifier for p in peers.values()]
    witnesses.append(witness_verifier(settings.party, key))
    show = not as_json and stderr.is_terminal
    try:
        with _progress(show) as bar:
            task = bar.add_task("own log", total=reader.stored_size())
            own = audit_stored_log(
                reader, origin=log_origin(settings.party),
                log_verifier=log_verifier(settings.party, key), witnesses=witnesses,
                high_water=mark_path.read_bytes() if mark_path.exists() else None,
                progress=lambda n: bar.update(task, completed=n),
                database_url=settings.log_database_url)
            own_entries: list[LogEntry] = []
            if peer:
                for _, data in reader.entries():
                    with suppress(InvalidInput):  # already a finding of the own-log audit
                        own_entries.append(parse_entry(data))
            results: list[PeerAudit] = []
            with httpx.Client(timeout=30.0) as client:
                for code in peer or []:
                    p = peers[code]
                    assert p.endpoint is not None
                    ptask = bar.add_task(f"peer {code}", total=None)
                    results.append(audit_peer(
                        party=code, endpoint=p.endpoint, origin=p.origin,
                        log_verifier=p.log_verifier, own_party=settings.party,
                        own_entries=own_entries, store=SqlWitnessStore(engine),
                        witnesses=witnesses, witness_quorum=witness_quorum, client=client,
                        progress=_advance(bar, ptask)))
    finally:
        engine.dispose()
    findings = [*own.findings, *(f for r in results for f in r.findings)]
    if as_json:
        print_json(_report(settings.party, own, results, findings))
    else:
        _print(settings.party, own, results, findings)
    if findings:
        raise typer.Exit(EXIT_DISCREPANCY)


def _report(party: str, own: StoredLogAudit, peers: list[PeerAudit],
            findings: list[Finding]) -> dict[str, Any]:
    return {
        "ok": not findings,
        "log": {"origin": log_origin(party), "entries": own.entries,
                "checkpoints": own.checkpoints, "tiles": own.tiles,
                "cosignatures": own.cosignatures, "ok": not own.findings},
        "peers": [{"party": r.party, "size": r.size, "entries": r.entries,
                   "ok": not r.findings} for r in peers],
        "findings": [f.to_json() for f in findings],
    }


def _print(party: str, own: StoredLogAudit, peers: list[PeerAudit],
           findings: list[Finding]) -> None:
    mark = "ok" if not own.findings else f"{len(own.findings)} discrepancy(ies)"
    stdout.print(f"log {log_origin(party)}: {own.entries} entries, {own.checkpoints} "
                 f"checkpoints, {own.tiles} tiles, {own.cosignatures} cosignatures "
                 f"recomputed and checked: {mark}", markup=False)
    for r in peers:
        mark = "ok" if not r.findings else f"{len(r.findings)} discrepancy(ies)"
        stdout.print(f"peer {r.party}: checkpoint of size {r.size}, {r.entries} entries "
                     f"mirrored, tiles verified, cross-checked: {mark}", markup=False)
    for f in findings:
        stdout.print(f"DISCREPANCY {f}", markup=False)
    stdout.print("all checks held" if not findings else f"{len(findings)} discrepancy(ies)",
                 markup=False)
