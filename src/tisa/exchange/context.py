"""What every part of the exchange layer needs: this node's party, keys, peers, stores,
event log, and its clock (the simulated date of ``--as-of``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tisa.api.service import TaxiiNode
from tisa.api.sharing import NodeNetwork
from tisa.api.timestamps import parse_timestamp
from tisa.crypto.keys import parse_public_key
from tisa.crypto.sealing import parse_seal_public_key
from tisa.errors import InvalidInput
from tisa.ledger.entries import EntryKind, LogEntry, format_time
from tisa.ledger.event_log import EventLog
from tisa.model.route import RouteDecision, RouteRequest
from tisa.store.exchange_sql import ExchangeStore

log = logging.getLogger("tisa.exchange")

_lines = threading.local()  # the per-item log lines of this thread's current batch


@contextmanager
def logged_together() -> Iterator[None]:
    """Log the per-item lines noted inside (``log_item``) together, once the batch is
    done: a line alone in its group at INFO, as it is; a group of several as one INFO
    line, and each of its lines at DEBUG. Nothing is logged for a batch that fails."""
    if getattr(_lines, "groups", None) is not None:  # inside another batch: its lines
        yield
        return
    groups: dict[str, list[tuple[object, ...]]] = {}
    _lines.groups = groups
    try:
        yield
    finally:
        _lines.groups = None
    for summary, lines in groups.items():
        if len(lines) == 1:
            log.info(*lines[0])
            continue
        if log.isEnabledFor(logging.DEBUG):
            for line in lines:
                log.debug(*line)
        log.info("%s", summary.replace("{n}", str(len(lines))))


def log_item(summary: str, *line: object) -> None:
    """An INFO line about one item (``line``: the message and its arguments); inside
    ``logged_together``, logged with the others of its ``summary`` (the batch's INFO
    line, ``{n}`` standing for their count)."""
    groups = getattr(_lines, "groups", None)
    if groups is None:
        log.info(*line)
    else:
        groups.setdefault(summary, []).append(line)


@dataclass(frozen=True, kw_only=True)
class ExchangeSettings:
    """Tunables of the peer protocol and the delivery worker (node.toml ``[exchange]``)."""

    consent_ttl_seconds: int = 7 * 24 * 3600
    freshness_seconds: int = 300
    batch_size: int = 200
    backoff_base_seconds: float = 0.2
    backoff_max_seconds: float = 10.0
    poll_seconds: float = 0.05
    request_timeout_seconds: float = 30.0
    #: the largest peer request body, this node's and (assumed) its peers'
    #: (node.toml ``max_content_length``): batches are cut to fit it
    max_request_bytes: int = 10 * 1024 * 1024
    #: a message a peer rejects (4xx) this many times in a row is given up: ``failure``
    max_rejections: int = 20


class Wake(Protocol):
    """Nudges the delivery worker: its local loop (draining the outbox, the hub's
    clock) and/or its send loop (due peer messages)."""

    def __call__(self, *, local: bool = True, send: bool = True) -> None: ...


def no_worker(*, local: bool = True, send: bool = True) -> None:
    """``Wake`` without a running worker: nothing to nudge."""


@dataclass(frozen=True, kw_only=True)
class Peer:
    code: str
    endpoint: str
    public_key: Ed25519PublicKey
    seal_key: X25519PublicKey | None


@dataclass(kw_only=True)
class Exchange:
    """One node's exchange state. ``today`` is the day route decisions are made for."""

    party: str
    network: NodeNetwork
    signing_key: Ed25519PrivateKey
    seal_key: X25519PrivateKey | None
    store: ExchangeStore
    taxii: TaxiiNode
    events: EventLog
    today: Callable[[], date]
    settings: ExchangeSettings = field(default_factory=ExchangeSettings)
    #: nudges the delivery worker (set by the running worker; a no-op without one)
    wake: Wake = field(default=no_worker)
    peers: Mapping[str, Peer] = field(init=False)
    route_cache: dict[RouteRequest, RouteDecision] = field(init=False, default_factory=dict)
    trusted_keys: Mapping[str, Ed25519PublicKey] = field(init=False)

    def __post_init__(self) -> None:
        peers: dict[str, Peer] = {}
        keys: dict[str, Ed25519PublicKey] = {}
        for code, party in self.network.network.parties.items():
            if party.public_key is None:
                continue
            keys[code] = parse_public_key(party.public_key)
            if party.endpoint is not None and code != self.party:
                peers[code] = Peer(
                    code=code,
                    endpoint=party.endpoint.rstrip("/"),
                    public_key=keys[code],
                    seal_key=None if party.seal_key is None
                    else parse_seal_public_key(party.seal_key),
                )
        self.peers = peers
        self.trusted_keys = keys

    def record(self, kind: EntryKind, *, item_id: str, version_us: int, from_party: str,
               to_party: str, originator: str, envelope_sha256: str | None = None,
               reason: str | None = None) -> int:
        """Append one event to the node's transparency log; its index (-1 when it is
        recorded with the rest of the current batch, just before the batch commits)."""
        entry = LogEntry(
            kind=kind, at=format_time(datetime.now(UTC)), item_id=item_id,
            item_version=version_us, from_party=from_party, to_party=to_party,
            originator=originator, envelope_sha256=envelope_sha256,
            reason=None if reason is None else reason[:4000],
        )
        if not self.store.in_unit():
            return self.events.record([entry])[0]
        # Inside a batch transaction: collect the batch's events and record them in one
        # call just before it commits (one durable log commit per batch, not per event).
        pending, created = self.store.unit_list("log-events")
        if created:

            def flush() -> None:
                self.events.record(pending)

            self.store.before_commit(flush)
        pending.append(entry)
        return -1  # the index is known once the batch is recorded


def now_text() -> str:
    """Now in UTC, RFC 3339 with microseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def iso_us(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 UTC with microseconds and a ``Z``."""
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def version_us(item_version: str) -> int:
    """The object version an item carries, in microseconds: its signed ``item_version``
    (the STIX ``modified``, else ``created``) — the value a receiver logs for it, so a
    hub's log entries cross-check with the receiver's; 0 when it is not a timestamp."""
    try:
        return parse_timestamp(item_version)
    except InvalidInput:
        return int(item_version) if item_version.isdigit() else 0
