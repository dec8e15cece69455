"""The exchange layer inside a running node: its routes on the node's app, and its
delivery worker in the app's lifespan (started with ``tisa serve``, stopped on SIGTERM
after the round in flight)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from tisa.api.auth import Authenticator
from tisa.api.service import TaxiiNode
from tisa.config import NodeSettings
from tisa.exchange.context import Exchange
from tisa.exchange.http import LOCAL_WORK, MESSAGES_PATH, exchange_routes
from tisa.exchange.wiring import build_exchange
from tisa.exchange.worker import DeliveryWorker
from tisa.ledger.event_log import EventLog
from tisa.store.sql import SqlStore

log = logging.getLogger("tisa.exchange")


def install_exchange(app: Starlette, settings: NodeSettings, node: TaxiiNode, store: SqlStore,
                     authenticator: Authenticator, events: EventLog) -> Exchange:
    """Build the node's exchange layer, recording into ``events``, and add its routes."""
    exchange = build_exchange(settings, node, store, events)
    app.router.routes[:0] = exchange_routes(exchange, authenticator,
                                            settings.max_content_length)
    app.state.exchange = exchange
    app.add_middleware(WakeOnPost, exchange=exchange)
    day = "today (UTC)" if settings.as_of is None else f"SIMULATED DATE {settings.as_of}"
    log.warning("tisa node %s: exchange ready; %d peer(s); routes decided as of %s",
                settings.party, len(exchange.peers), day)
    return exchange


class WakeOnPost:
    """After any POST (a share, a peer request, a consent answer) there may be work: wake
    the delivery worker instead of waiting for its next poll — only the loop that has
    work, so the other does not compete with it for the node's one core. A peer request
    can only have queued messages (its send loop; and its local loop after a consent: a
    held item to forward); a TAXII POST only outbox rows (the local loop, which sends
    what it queues itself); a consent answer either."""

    def __init__(self, app: ASGIApp, exchange: Exchange) -> None:
        self.app = app
        self.exchange = exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("method") == "POST":
            path = str(scope.get("path", ""))
            if path == MESSAGES_PATH:
                self.exchange.wake(local=bool(scope.get(LOCAL_WORK)), send=True)
            elif path.startswith("/exchange/"):
                self.exchange.wake()
            else:
                self.exchange.wake(local=True, send=False)


@asynccontextmanager
async def exchange_lifespan(exchange: Exchange, *, enabled: bool) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    stop = asyncio.Event()
    async with httpx.AsyncClient(trust_env=False) as client:
        task = asyncio.create_task(DeliveryWorker(exchange, client).run(stop))
        try:
            yield
        finally:
            stop.set()
            await task
