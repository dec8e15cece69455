"""The log's HTTP surface under ``/log/``: C2SP tlog-tiles (read) and tlog-witness (write).

Reading is open to anyone who can reach the node, without TAXII credentials: tlog
clients and witnesses carry none, and entries hold only digests, ids, party codes
and times (see docs/ledger.md, "Who may read /log/").

* ``GET /log/checkpoint``       ``text/plain; charset=utf-8``, ``Cache-Control: no-store``
* ``GET /log/tile/<L>/<N>[.p/<W>]``, ``GET /log/tile/entries/<N>[.p/<W>]``
                                ``application/octet-stream``; full tiles are immutable
* ``POST /log/add-checkpoint``  tlog-witness, for the parties this node has an agreement with
"""

from __future__ import annotations

import logging
import time
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tisa.api.bodies import BodyTooLarge, BodyUnreadable, read_body
from tisa.api.log_node import LogNode
from tisa.errors import IntegrityError, InvalidInput, NotFound
from tisa.ledger.tiles import parse_tile_path
from tisa.ledger.witness import (
    MAX_ADD_CHECKPOINT_BODY,
    WitnessDecision,
    WitnessOutcome,
    decide_add_checkpoint,
)

__all__ = ["log_routes"]

log = logging.getLogger("tisa.api.log")

TEXT: Final = "text/plain; charset=utf-8"
TILE: Final = "application/octet-stream"
SIZE: Final = "text/x.tlog.size"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_STORE: Final = "no-store"

_STATUS: Final = {
    WitnessOutcome.COSIGNED: 200,
    WitnessOutcome.MALFORMED: 400,
    WitnessOutcome.UNTRUSTED_SIGNATURE: 403,
    WitnessOutcome.UNKNOWN_ORIGIN: 404,
    WitnessOutcome.OLD_SIZE_MISMATCH: 409,
    WitnessOutcome.SAME_SIZE_DIFFERENT_ROOT: 409,
    WitnessOutcome.BAD_PROOF: 422,
}


def _text(body: str | bytes, status: int, *, media: str = TEXT, cache: str = NO_STORE
          ) -> Response:
    data = body.encode() if isinstance(body, str) else body
    return Response(data, status_code=status,
                    headers={"Content-Type": media, "Cache-Control": cache})


class LogEndpoints:
    def __init__(self, node: LogNode) -> None:
        self.node = node

    async def checkpoint(self, request: Request) -> Response:
        try:
            note = await run_in_threadpool(self.node.event_log.latest_checkpoint)
        except IntegrityError as exc:
            log.critical("refusing to serve the checkpoint: %s", exc.diagnostics())
            return _text("the log failed its consistency check and serves no checkpoint\n", 503)
        if note is None:
            return _text("the log has no checkpoint yet\n", 404)
        return _text(note, 200)

    async def tile(self, request: Request) -> Response:
        path = "tile/" + request.path_params["rest"]
        try:
            ref = parse_tile_path(path)
            reader = self.node.event_log.reader
            if ref.level is None:
                data = await run_in_threadpool(reader.entry_bundle, ref.index, ref.width)
            else:
                data = await run_in_threadpool(reader.tile, ref.level, ref.index, ref.width)
        except InvalidInput as exc:
            return _text(exc.diagnostics() + "\n", 400)
        except NotFound as exc:
            return _text(exc.diagnostics() + "\n", 404)
        return _text(data, 200, media=TILE, cache=NO_STORE if ref.is_partial else IMMUTABLE)

    async def add_checkpoint(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_ADD_CHECKPOINT_BODY)
        except BodyTooLarge as exc:
            return _text(f"{exc}\n", 413)
        except BodyUnreadable as exc:
            return _text(f"{exc}\n", 400)
        decision = await run_in_threadpool(self._decide, body)
        status = _STATUS[decision.outcome]
        if decision.evidence:
            log.error("witness: %s; the request is evidence of misbehaviour: %r",
                      decision.reason, body)
        if decision.outcome is WitnessOutcome.OLD_SIZE_MISMATCH:
            return _text(decision.body(), status, media=SIZE)
        if decision.outcome is WitnessOutcome.COSIGNED:
            return _text(decision.body(), status)
        return _text(decision.reason + "\n", status)

    def _decide(self, body: bytes) -> WitnessDecision:
        peers = self.node.peers.values()
        verifiers = {p.origin: [p.log_verifier] for p in peers}
        store = self.node.witness_store
        decision = decide_add_checkpoint(
            body, log_verifiers=verifiers, known_state=store.witness_state,
            cosigner=self.node.cosigner, timestamp=int(time.time()))
        if decision.outcome is WitnessOutcome.COSIGNED and decision.checkpoint is not None:
            assert decision.new_state is not None
            origin = decision.checkpoint.origin
            if not store.swap_witness_state(origin, decision.previous_state, decision.new_state):
                # Lost the race to a concurrent request: answer from the state that won.
                now = store.witness_state(origin)
                size = 0 if now is None else now.size
                return WitnessDecision(
                    outcome=WitnessOutcome.OLD_SIZE_MISMATCH,
                    reason=f"the witness state moved to size {size} meanwhile",
                    checkpoint=decision.checkpoint, known_size=size)
        return decision


def log_routes(node: LogNode) -> list[Route]:
    endpoints = LogEndpoints(node)
    return [
        Route("/log/checkpoint", endpoints.checkpoint, methods=["GET"]),
        Route("/log/tile/{rest:path}", endpoints.tile, methods=["GET"]),
        Route("/log/add-checkpoint", endpoints.add_checkpoint, methods=["POST"]),
    ]
