"""The exchange layer's HTTP surface, added to the node's Starlette app.

Peers: ``POST /exchange/v1/messages`` — a signed batch in, a signed reply out. A body that
is not ``application/json`` is 415; one over ``max_content_length`` is 413 as soon as the
stream passes it (the rest is never read); one that is not an envelope is 400; one that
does not verify (unknown peer, bad signature, not addressed to this node, stale, replayed)
is 403; 400 and 403 with the same generic body whatever went wrong (details in the node's
log), and nothing changes. A malformed message inside a batch that verified is refused on
its own, in the reply (``tisa.exchange.messages``).

Analysts (admin users, HTTP Basic as for TAXII): ``GET /exchange/v1/consent/``,
``POST /exchange/v1/consent/{id}/approve`` (no body, or ``{}``),
``POST /exchange/v1/consent/{id}/deny`` (no body, or ``{"reason": "..."}``); any other
body is 400 saying what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tisa.api.auth import Authenticator, parse_basic
from tisa.api.bodies import BodyTooLarge, BodyUnreadable, read_body
from tisa.crypto._encoding import load_json
from tisa.crypto.dsse import Envelope
from tisa.errors import Conflict, InvalidInput, NotFound, VerificationError
from tisa.exchange import receiving
from tisa.exchange.consent import ConsentDesk
from tisa.exchange.context import Exchange, log
from tisa.exchange.messages import check_reason
from tisa.exchange.protocol import CONSENT, parse_request, sign_reply, verify_request

JSON = "application/json"
MESSAGES_PATH = "/exchange/v1/messages"
#: set in a peer request's scope when handling it may have left the delivery worker's
#: local loop work to do (a consent: a held item to forward); ``WakeOnPost`` reads it
LOCAL_WORK = "tisa.exchange.local_work"


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False).encode(), status, media_type=JSON)


def _error(status: int, title: str, description: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="tisa"'} if status == 401 else None
    return Response(json.dumps({"title": title, "description": description}).encode(),
                    status, headers=headers, media_type=JSON)


def _is_json(content_type: str | None) -> bool:
    """``application/json``, with at most a UTF-8 ``charset`` parameter."""
    if content_type is None:
        return False
    media, *params = (p.strip().lower() for p in content_type.split(";"))
    return media == JSON and all(p.replace('"', "") in ("charset=utf-8", "") for p in params)


def _answer_body(raw: bytes, decision: str) -> dict[str, str]:
    """An answer's optional JSON body: ``{"reason": "..."}`` for a denial, ``{}`` (or
    nothing) for an approval. Anything else is ``InvalidInput`` saying what is wrong."""
    allowed = "{\"reason\": \"...\"}" if decision == "deny" else "{}"
    if not raw.strip():
        return {}
    try:
        data = load_json(raw, "the body")
    except InvalidInput as exc:
        raise InvalidInput(f"{exc}; send {allowed} or no body") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"the body must be a JSON object, {allowed}")
    fields = {"reason"} if decision == "deny" else set()
    if unknown := sorted(set(data) - fields):
        raise InvalidInput(f"the body has unknown field(s) {', '.join(map(repr, unknown))}; "
                           f"send {allowed}")
    if "reason" in data:
        return {"reason": check_reason(data["reason"])}
    return {}


def _answer(ex: Exchange, envelope: Envelope
            ) -> tuple[bytes, bool] | VerificationError | InvalidInput:
    """Verify a peer request, handle it and sign the reply, in one worker-thread hop (not
    three: each hop back to the event loop can wait on the other threads for the GIL);
    the reply and whether it carried a consent. A request that does not verify (or is
    not a valid batch) is returned as its error; nothing was changed."""
    try:
        verified = verify_request(ex, envelope)
    except (VerificationError, InvalidInput) as exc:
        return exc
    results = receiving.handle(ex, verified)
    consent = any(m.get("kind") == CONSENT for m in verified.messages)
    return sign_reply(ex, verified, results), consent


def exchange_routes(ex: Exchange, authenticator: Authenticator, max_body: int) -> list[Route]:
    desk = ConsentDesk(party=ex.party, store=ex.store, signing_key=ex.signing_key)

    async def messages(request: Request) -> Response:
        if not _is_json(request.headers.get("content-type")):
            return _error(415, "Unsupported Media Type",
                          "post the signed batch as Content-Type: application/json")
        try:
            body = await read_body(request, max_body)
        except BodyTooLarge:
            return _error(413, "Content Too Large", "the request is too large")
        except BodyUnreadable as exc:
            log.warning("%s: unreadable peer request: %s", ex.party, exc)
            return _error(400, "Bad Request", "the request is not a valid exchange envelope")
        answer: tuple[bytes, bool] | VerificationError | InvalidInput
        try:
            envelope = parse_request(body)
        except (VerificationError, InvalidInput) as exc:  # the body is no envelope
            answer = exc
        else:
            answer = await run_in_threadpool(_answer, ex, envelope)
        if isinstance(answer, VerificationError):
            log.warning("%s: peer request refused: %s", ex.party, answer.detail)
            return _error(403, "Forbidden", "the request did not verify")
        if isinstance(answer, InvalidInput):
            log.warning("%s: malformed peer request: %s", ex.party, answer.diagnostics())
            return _error(400, "Bad Request", "the request is not a valid exchange envelope")
        reply, consent = answer
        if consent:
            request.scope[LOCAL_WORK] = True  # a held item may be ready to forward
        return Response(reply, 200, media_type=JSON)

    async def admin(request: Request) -> Response | None:
        credentials = parse_basic(request.headers.get("authorization"))
        user = None if credentials is None else await run_in_threadpool(
            authenticator.authenticate, *credentials)
        if user is None:
            return _error(401, "Unauthorized", "HTTP Basic credentials are required")
        if not user.admin:
            return _error(403, "Forbidden", "only admin users answer consent requests")
        return None

    async def list_requests(request: Request) -> Response:
        if (denied := await admin(request)) is not None:
            return denied
        return _json({"requests": await run_in_threadpool(desk.open_requests)})

    async def answer(request: Request) -> Response:
        if (denied := await admin(request)) is not None:
            return denied
        request_id = request.path_params["request_id"]
        if request.path_params["decision"] not in ("approve", "deny"):
            return _error(404, "Not Found", "answer with .../approve or .../deny")
        decision = request.path_params["decision"]
        try:
            fields = _answer_body(await read_body(request, max_body), decision)
        except BodyTooLarge:
            return _error(413, "Content Too Large", "the request is too large")
        except (BodyUnreadable, InvalidInput) as exc:
            return _error(400, "Bad Request", str(exc))
        reason = fields.get("reason", "")
        try:
            if decision == "approve":
                await run_in_threadpool(desk.approve, request_id)
            else:
                await run_in_threadpool(desk.deny, request_id, reason)
        except NotFound as exc:
            return _error(404, "Not Found", exc.diagnostics())
        except InvalidInput as exc:
            return _error(400, "Bad Request", exc.diagnostics())
        except Conflict as exc:
            return _error(409, "Conflict", exc.diagnostics())
        return _json({"id": request_id, "decision": decision})

    return [
        Route(MESSAGES_PATH, messages, methods=["POST"]),
        Route("/exchange/v1/consent/", list_requests, methods=["GET"]),
        Route("/exchange/v1/consent/{request_id}/{decision:str}", answer, methods=["POST"]),
    ]
