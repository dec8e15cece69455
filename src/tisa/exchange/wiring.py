"""Assemble a node's exchange layer from its settings and its transparency log.

The node's server opens the durable log (``tisa.api.log_node.open_event_log``) once and
hands it here and to ``/log/``; tests may hand a ``MemoryEventLog``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from tisa.api.service import TaxiiNode
from tisa.config import SEAL_KEY_FILE, SIGNING_KEY_FILE, NodeSettings
from tisa.crypto.keys import load_private_key
from tisa.crypto.sealing import load_seal_key
from tisa.exchange.context import Exchange, ExchangeSettings
from tisa.ledger.event_log import EventLog
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.sql import SqlStore


def node_today(settings: NodeSettings) -> Callable[[], date]:
    """The node's day: ``--as-of`` when given, else today in UTC."""
    if settings.as_of is not None:
        fixed = settings.as_of
        return lambda: fixed
    return lambda: datetime.now(UTC).date()


def build_exchange(
    settings: NodeSettings, node: TaxiiNode, store: SqlStore, events: EventLog
) -> Exchange:
    signing_key = load_private_key(settings.home / SIGNING_KEY_FILE)
    seal_path = settings.home / SEAL_KEY_FILE
    return Exchange(
        party=settings.party,
        network=node.network,
        signing_key=signing_key,
        seal_key=load_seal_key(seal_path) if seal_path.exists() else None,
        store=ExchangeStore(store.engine),
        taxii=node,
        events=events,
        today=node_today(settings),
        settings=ExchangeSettings(consent_ttl_seconds=settings.consent_ttl_seconds,
                                  max_request_bytes=settings.max_content_length),
    )
