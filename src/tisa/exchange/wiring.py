"""Assemble a node's exchange layer from its settings.

``build_event_log`` is the ONE place that chooses the node's transparency log: today the
in-memory ``MemoryEventLog`` (entries are lost on restart); switch it to the durable SQL
``EventLog`` here when that lands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.api.service import TaxiiNode
from tisa.config import SEAL_KEY_FILE, SIGNING_KEY_FILE, NodeSettings
from tisa.crypto.keys import load_private_key
from tisa.crypto.sealing import load_seal_key
from tisa.exchange.context import Exchange, ExchangeSettings
from tisa.ledger.event_log import EventLog, MemoryEventLog
from tisa.ledger.note import Ed25519Signer
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.sql import SqlStore


def build_event_log(settings: NodeSettings, signing_key: Ed25519PrivateKey) -> EventLog:
    """The node's transparency log. Switch to the durable SQL log here."""
    origin = f"{settings.party.lower()}.tisa.example/log"
    return MemoryEventLog(origin=origin, signer=Ed25519Signer(name=origin,
                                                              private_key=signing_key))


def node_today(settings: NodeSettings) -> Callable[[], date]:
    """The node's day: ``--as-of`` when given, else today in UTC."""
    if settings.as_of is not None:
        fixed = settings.as_of
        return lambda: fixed
    return lambda: datetime.now(UTC).date()


def build_exchange(settings: NodeSettings, node: TaxiiNode, store: SqlStore) -> Exchange:
    signing_key = load_private_key(settings.home / SIGNING_KEY_FILE)
    seal_path = settings.home / SEAL_KEY_FILE
    return Exchange(
        party=settings.party,
        network=node.network,
        signing_key=signing_key,
        seal_key=load_seal_key(seal_path) if seal_path.exists() else None,
        store=ExchangeStore(store.engine),
        taxii=node,
        events=build_event_log(settings, signing_key),
        today=node_today(settings),
        settings=ExchangeSettings(consent_ttl_seconds=settings.consent_ttl_seconds),
    )
