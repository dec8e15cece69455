"""Helpers for the transparency-log tests: entries, keys, a network with keys and endpoints."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.ledger.entries import EntryKind, LogEntry
from tisa.ledger.log_names import log_origin
from tisa.ledger.note import Ed25519Signer
from tisa.store.sql_event_log import SqlEventLog

NETWORK_TEXT = (Path(__file__).parent / "data" / "network.toml").read_text()


def entry(i: int, *, kind: EntryKind = EntryKind.SENT, frm: str = "KOR", to: str = "JPN",
          originator: str | None = None) -> LogEntry:
    return LogEntry(kind=kind, at="2026-11-29T07:50:00Z", item_id=f"item-{i}", item_version=1,
                    from_party=frm, to_party=to, originator=originator or frm,
                    envelope_sha256=f"{i:064x}")


def signer(party: str = "KOR", key: Ed25519PrivateKey | None = None) -> Ed25519Signer:
    return Ed25519Signer(name=log_origin(party),
                         private_key=key or Ed25519PrivateKey.generate())


def open_log(url: str, s: Ed25519Signer, high_water: Path | None = None) -> SqlEventLog:
    return SqlEventLog.open(url, origin=s.name, signer=s, high_water=high_water)


def network_with(keys: dict[str, str], endpoints: dict[str, str]) -> str:
    """The test network with ``public_key`` and ``endpoint`` lines added per party."""
    out = []
    for line in NETWORK_TEXT.splitlines():
        out.append(line)
        if line.startswith("[parties.") and line.endswith("]"):
            code = line[len("[parties."):-1]
            if code in keys:
                out.append(f'public_key = "{keys[code]}"')
            if code in endpoints:
                out.append(f'endpoint = "{endpoints[code]}"')
    return "\n".join(out) + "\n"
