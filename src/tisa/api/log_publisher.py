"""The background task ``tisa serve`` runs for the log: sign, then get witnessed.

Once a second: sign a checkpoint if the tree grew (``SqlEventLog.sign_checkpoint``,
which refuses — loudly, at CRITICAL, and for good — a tree that does not extend
the last checkpoint signed); then submit the latest checkpoint, with a consistency
proof from the size each witness last cosigned, to every peer with an ``endpoint``
(C2SP tlog-witness ``add-checkpoint``), and store the cosignatures that verify.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette

from tisa.api.log_node import LogNode, LogPeer, open_log_node
from tisa.api.log_routes import log_routes
from tisa.config import NodeSettings
from tisa.errors import IntegrityError, InvalidInput, TisaError
from tisa.ledger.merkle import consistency_proof
from tisa.ledger.witness import (
    format_add_checkpoint_request,
    parse_cosignature_response,
    parse_size_response,
)
from tisa.store.sql_event_log import SqlEventLog

__all__ = ["LogPublisher", "attach_log", "publishing"]

log = logging.getLogger("tisa.ledger.publisher")


class LogPublisher:
    def __init__(self, node: LogNode, *, interval: float = 1.0,
                 client: httpx.Client | None = None) -> None:
        self.node = node
        self.interval = interval
        self.client = client or httpx.Client(timeout=10.0)
        self.failed: IntegrityError | None = None
        self._cosigned: dict[str, int] = {}  # witness party -> size it last cosigned
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        if self.failed is not None:
            return
        try:
            self.node.event_log.sign_checkpoint()
        except IntegrityError as exc:
            self.failed = exc
            log.critical("the log stops signing: %s", exc.diagnostics())
            return
        latest = self.node.event_log.reader.latest_note()
        if latest is None:
            return
        size, note = latest
        for peer in self.node.peers.values():
            if peer.endpoint is not None and self._cosigned.get(peer.party, -1) < size:
                try:
                    self.submit(peer, size, note)
                except (httpx.HTTPError, TisaError) as exc:
                    log.warning("witness %s: %s", peer.party, exc)

    def submit(self, peer: LogPeer, size: int, note: bytes) -> bool:
        """Ask ``peer`` to cosign our checkpoint of ``size``; store its cosignature."""
        old = self._cosigned.get(peer.party, 0)
        for _ in range(2):
            if old > size:
                log.error("witness %s cosigned size %d, beyond our checkpoint of size %d",
                          peer.party, old, size)
                return False
            tree = self.node.event_log.reader.node_reader(size)
            proof = consistency_proof(tree, old, size)
            response = self.client.post(
                f"{peer.endpoint}/log/add-checkpoint",
                content=format_add_checkpoint_request(old, proof, note),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
            if response.status_code == 200:
                return self._store(peer, size, note, response.content)
            if response.status_code == 409 and response.headers.get(
                "content-type", ""
            ).startswith("text/x.tlog.size"):
                old = parse_size_response(response.content)
                continue
            log.warning("witness %s refused our checkpoint of size %d: %d %s", peer.party,
                        size, response.status_code, response.text.strip()[:200])
            return False
        return False

    def _store(self, peer: LogPeer, size: int, note: bytes, body: bytes) -> bool:
        cosigned = parse_cosignature_response(body, note)
        wanted = peer.witness_verifier
        lines = [s for s in cosigned.signatures
                 if (s.name, s.key_id) == (wanted.name, wanted.key_id)]
        text = cosigned.text.encode()
        if not lines or not all(wanted.verify(text, s.signature) for s in lines):
            raise InvalidInput(f"witness {peer.party} answered without a valid cosignature")
        self.node.event_log.add_cosignature(size, wanted.name, lines[0].line())
        self._cosigned[peer.party] = size
        return True

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.run_once()
                except Exception:
                    log.exception("log publisher round failed")

        self._thread = threading.Thread(target=loop, name="tisa-log-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.client.close()


def attach_log(app: Starlette, settings: NodeSettings,
               event_log: SqlEventLog | None = None) -> LogNode:
    """Open the node's log (or take ``event_log``) and serve it under ``/log/`` on ``app``."""
    node = open_log_node(settings, event_log=event_log)
    app.router.routes.extend(log_routes(node))
    return node


@contextmanager
def publishing(node: LogNode, *, interval: float = 1.0) -> Iterator[LogPublisher]:
    publisher = LogPublisher(node, interval=interval)
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()
        node.close()
