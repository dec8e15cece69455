"""How large a peer request gets, before it is signed: so that no batch exceeds the
peer's body limit and an item that can never fit is refused when it is signed, not
retried forever.

A peer's limit is not announced; a node assumes its peers use its own
``max_content_length`` (node.toml, default 10 MiB). On the wire an item is base64
twice (the item envelope's payload, then the batch envelope's payload), so a STIX
object travels at about 1.78 times its size: 10 MiB fits objects up to about 5.6 MiB.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

#: the batch statement's own fields, the DSSE wrapper and its signature (generous)
REQUEST_OVERHEAD = 2048
#: what a hub (relay statement and consent) or an onward holder (consent) adds to an
#: item message when it passes it on
FORWARD_ALLOWANCE = 16 * 1024


def message_cost(body: str) -> int:
    """A queued message's share of a request payload: its JSON text (queued with
    ``json.dumps``' ASCII escapes, never shorter than the canonical UTF-8) and a comma."""
    return len(body) + 1


def request_bytes(payload_costs: int) -> int:
    """An upper bound of a signed request's body for messages of these summed costs."""
    payload = payload_costs + REQUEST_OVERHEAD
    return 4 * (payload // 3 + 1) + REQUEST_OVERHEAD


def split_batches(rows: Sequence[dict[str, Any]], *, count: int, limit: int,
                  alone: Collection[int] = frozenset()
                  ) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Due messages of one peer, in order, as batches of at most ``count`` messages whose
    request stays within ``limit`` bytes; messages whose id is in ``alone`` go in a batch
    of their own. Second: the messages that cannot fit even alone."""
    batches: list[list[dict[str, Any]]] = []
    too_large: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        cost = message_cost(str(row["body"]))
        if request_bytes(cost) > limit:
            too_large.append(row)
            continue
        if int(row["id"]) in alone:
            batches.append([row])
            continue
        if current and (len(current) >= count or request_bytes(size + cost) > limit):
            batches.append(current)
            current, size = [], 0
        current.append(row)
        size += cost
    if current:
        batches.append(current)
    return batches, too_large


def fits(bodies: Iterable[str], limit: int, *, allowance: int = 0) -> tuple[bool, int]:
    """Whether a request of these message bodies (plus ``allowance`` payload bytes) stays
    within ``limit``, and its size bound."""
    size = request_bytes(sum(message_cost(b) for b in bodies) + allowance)
    return size <= limit, size
