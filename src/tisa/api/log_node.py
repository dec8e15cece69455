"""A node's transparency-log side, assembled from its home: its durable log, its keys
as a log and as a witness, and the peers whose logs it witnesses and audits.

``open_event_log(settings)`` is the call the node wiring and the exchange layer use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tisa.config import LOG_HIGH_WATER_FILE, NodeSettings, load_network, node_signing_key
from tisa.crypto.keys import parse_public_key
from tisa.errors import ConfigError
from tisa.ledger.cosignature import CosignatureV1Signer, CosignatureV1Verifier
from tisa.ledger.log_names import log_origin, witness_name, witness_verifier
from tisa.ledger.note import Ed25519Signer, Ed25519Verifier
from tisa.model.network import Network
from tisa.store.sql_event_log import SqlEventLog
from tisa.store.sql_witness_store import SqlWitnessStore

__all__ = ["LogNode", "LogPeer", "log_peers", "open_event_log", "open_log_node"]


@dataclass(frozen=True, kw_only=True)
class LogPeer:
    """A party this node has an agreement with and whose public key the network lists."""

    party: str
    endpoint: str | None
    log_verifier: Ed25519Verifier
    witness_verifier: CosignatureV1Verifier

    @property
    def origin(self) -> str:
        return self.log_verifier.name


def log_peers(network: Network, party: str) -> dict[str, LogPeer]:
    """The parties sharing an agreement with ``party``, with their note verifiers."""
    partners = {
        p for a in network.agreements.values() if a.has_party(party) for p in a.parties
    } - {party}
    peers: dict[str, LogPeer] = {}
    for code in sorted(partners):
        info = network.party(code)
        if info is None or info.public_key is None:
            continue
        key = parse_public_key(info.public_key)
        peers[code] = LogPeer(
            party=code,
            endpoint=None if info.endpoint is None else info.endpoint.rstrip("/"),
            log_verifier=Ed25519Verifier(name=log_origin(code), public_key=key),
            witness_verifier=witness_verifier(code, key),
        )
    return peers


def open_event_log(settings: NodeSettings) -> SqlEventLog:
    """The node's durable ``EventLog`` (origin ``tisa.<party lower>/log``, the node's key)."""
    key = node_signing_key(settings.home)
    origin = log_origin(settings.party)
    return SqlEventLog.open(
        settings.log_database_url,
        origin=origin,
        signer=Ed25519Signer(name=origin, private_key=key),
        high_water=settings.home / LOG_HIGH_WATER_FILE,
    )


@dataclass(frozen=True, kw_only=True)
class LogNode:
    party: str
    event_log: SqlEventLog
    witness_store: SqlWitnessStore
    cosigner: CosignatureV1Signer
    peers: dict[str, LogPeer]

    @property
    def log_verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(name=self.event_log.origin,
                               public_key=self.cosigner.private_key.public_key())

    def close(self) -> None:
        self.event_log.close()


def open_log_node(settings: NodeSettings, *, network_path: Path | None = None,
                  event_log: SqlEventLog | None = None) -> LogNode:
    """The node's log side; pass the ``event_log`` the exchange layer already records to,
    so that one instance (one group-commit queue) serves both."""
    network = load_network(network_path or settings.network_path)
    if network.party(settings.party) is None:
        raise ConfigError(f"party {settings.party} is not in the network file")
    event_log = event_log or open_event_log(settings)
    return LogNode(
        party=settings.party,
        event_log=event_log,
        witness_store=SqlWitnessStore(event_log.engine),
        cosigner=CosignatureV1Signer(name=witness_name(settings.party),
                                     private_key=node_signing_key(settings.home)),
        peers=log_peers(network, settings.party),
    )
