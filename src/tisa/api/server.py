"""Assemble a node from its settings: store, network, service, ASGI app; and serve it."""

from __future__ import annotations

import gc
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from tisa.api.app import TaxiiApp
from tisa.api.auth import Authenticator
from tisa.api.log_node import open_event_log
from tisa.api.log_publisher import attach_log, publishing
from tisa.api.service import TaxiiNode
from tisa.api.sharing import load_node_network
from tisa.config import NodeSettings, ServeSettings
from tisa.store.sql import SqlStore


def build_node(settings: NodeSettings) -> tuple[TaxiiNode, SqlStore]:
    from tisa.exchange.wiring import node_today

    network = load_node_network(settings.network_path, settings.party)
    store = SqlStore.open(settings.database_url)
    node = TaxiiNode(
        party=settings.party,
        network=network,
        store=store,
        secret=settings.secret,
        page_limit=settings.page_limit,
        today=node_today(settings),
    )
    node.start()
    return node, store


def build_app(settings: NodeSettings, *, worker: bool = True) -> Starlette:
    """The node's app; with ``worker`` its lifespan runs the exchange delivery worker."""
    from tisa.exchange.service import exchange_lifespan, install_exchange

    node, store = build_node(settings)
    authenticator = Authenticator(store, settings.secret)
    taxii = TaxiiApp(
        node=node,
        authenticator=authenticator,
        title=settings.title,
        max_content_length=settings.max_content_length,
        as_of=settings.as_of,
    )
    app = taxii.app()
    # One durable transparency log: the exchange records into it, /log/ serves it.
    event_log = open_event_log(settings)
    exchange = install_exchange(app, settings, node, store, authenticator, event_log)
    log_node = attach_log(app, settings, event_log=event_log)  # /log/: tiles and witness

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The worker stops before the log closes: nothing is recorded into a closed log.
        with publishing(log_node):  # sign checkpoints each second, get them witnessed
            async with exchange_lifespan(exchange, enabled=worker):
                yield
        store.close()

    app.router.lifespan_context = lifespan
    return app


def freeze_startup_heap() -> None:
    """Move what start-up built (modules, SQLAlchemy tables and compiled caches, the
    network, keys: ~100,000 objects that live as long as the process) out of the cyclic
    collector's view: each full collection while serving walked all of it again (40-80 ms
    of CPU each, several a minute under load). Garbage made later is collected as before."""
    gc.collect()
    gc.freeze()


def serve(settings: NodeSettings, serve_settings: ServeSettings) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then stops accepting, lets requests in flight
    finish (each commits or rolls back as one transaction), and exits."""
    import logging

    import uvicorn

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    tisa_log = logging.getLogger("tisa")
    tisa_log.addHandler(handler)
    tisa_log.setLevel(logging.INFO)
    if settings.as_of is not None:
        tisa_log.warning("SIMULATED DATE: node %s decides routes as if on %s",
                         settings.party, settings.as_of.isoformat())
    app = build_app(settings)
    freeze_startup_heap()
    tls = serve_settings.tls
    config = uvicorn.Config(
        app,
        host=serve_settings.host,
        port=serve_settings.port,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    stopped: list[int] = []
    # uvicorn re-raises the stop signal after its graceful shutdown; with this handler
    # in place that ends here, and the command exits 0 ("stopped cleanly").
    previous = signal.signal(signal.SIGTERM, lambda sig, _frame: stopped.append(sig))
    try:
        uvicorn.Server(config).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
