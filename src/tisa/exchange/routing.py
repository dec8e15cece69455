"""Route re-checks at every hop, on this node's own agreements and its own day."""

from __future__ import annotations

from tisa.crypto.items import ItemStatement
from tisa.errors import Denied, InvalidInput
from tisa.exchange.context import Exchange
from tisa.model.route import RouteDecision, RouteKind, RouteRequest


def decide(ex: Exchange, item: ItemStatement, *, holder: str | None, recipient: str
           ) -> RouteDecision:
    request = RouteRequest(
        originator=item.originator, recipient=recipient, level=item.level,
        topics=item.topics, on=ex.today(), holder=holder, rel_to=item.rel_to,
    )
    cached = ex.route_cache.get(request)
    if cached is not None:
        return cached
    try:
        decision = ex.network.router.decide(request)
    except InvalidInput as exc:
        decision = RouteDecision(decision=RouteKind.DENY, path=(), agreements=(),
                                 consent_from=(), marking=None, reasons=(exc.diagnostics(),))
    if len(ex.route_cache) > 10_000:
        ex.route_cache.clear()
    ex.route_cache[request] = decision  # same question, same day: same answer
    return decision


def require_route(ex: Exchange, item: ItemStatement, *, holder: str | None,
                  path: tuple[str, ...]) -> RouteDecision:
    """The agreements in force today here allow this path (a direct route, which is
    preferred, also allows an item that came the longer way)."""
    decision = decide(ex, item, holder=holder, recipient=path[-1])
    if decision.allowed and (decision.path == path or decision.decision is RouteKind.DIRECT):
        return decision
    why = "; ".join(decision.reasons) or f"today's route is {' -> '.join(decision.path)}"
    raise Denied(f"route {' -> '.join(path)} not allowed on {ex.today()} here: {why}")


def hub_route(ex: Exchange, item: ItemStatement) -> RouteDecision:
    """The hub's own decision that it relays this item, today."""
    decision = decide(ex, item, holder=None, recipient=item.recipient)
    if decision.decision is RouteKind.RELAY and decision.path == item.path:
        return decision
    why = "; ".join(decision.reasons) or f"today's route is {' -> '.join(decision.path)}"
    raise Denied(f"relay {' -> '.join(item.path)} not allowed on {ex.today()}: {why}")
