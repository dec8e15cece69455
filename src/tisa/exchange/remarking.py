"""GSOMIA Art. 4 on receipt: the received object is marked with the receiving party's
native level name and the originator, through a tisa marking-definition of the receiver's
own that the stored object references (instead of the originator's item marking)."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any, Final

from tisa.api.stix_input import InvalidStix, read_object
from tisa.crypto.items import ItemStatement
from tisa.model.item_marking import TISA_MARKING_EXTENSION, _is_known_tlp
from tisa.model.levels import REFERENCE_LEVELS
from tisa.model.network import Network
from tisa.store.ports import NewObject

_NAMESPACE: Final = uuid.UUID("3c1f6b0e-7d25-4a8e-9f3b-2a6c4d8e1b57")
_CREATED: Final = "2026-11-01T00:00:00.000Z"


def _definition(receiver: str, native: str, originator: str, topics: tuple[str, ...],
                rel_to: tuple[str, ...] | None, consent_to: tuple[str, ...] | None
                ) -> dict[str, Any]:
    extension: dict[str, Any] = {
        "extension_type": "property-extension",
        "level": native,
        "originator": originator,
        "topics": list(topics),
    }
    if rel_to is not None:
        extension["releasable_to"] = list(rel_to)
    if consent_to is not None:
        extension["consent_to"] = list(consent_to)
    key = json.dumps([receiver, extension], sort_keys=True, ensure_ascii=False)
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{uuid.uuid5(_NAMESPACE, key)}",
        "created": _CREATED,
        "name": f"{native} (originator {originator}; marked by {receiver} on receipt)",
        "extensions": {TISA_MARKING_EXTENSION: extension},
    }


@lru_cache(maxsize=256)
def _definition_part(receiver: str, native: str, originator: str, topics: tuple[str, ...],
                     rel_to: tuple[str, ...] | None, consent_to: tuple[str, ...] | None,
                     level_rank: int) -> NewObject:
    """The stored form of a re-marking definition: a pure function of its arguments, so
    the items of a batch (and of later batches) under one marking share one."""
    definition = _definition(receiver, native, originator, topics, rel_to, consent_to)
    return _part(0, definition, level_rank, frozenset(topics))


def _part(index: int, data: dict[str, Any], level_rank: int, topics: frozenset[str]
          ) -> NewObject:
    posted = read_object(index, data)
    return NewObject(
        object_id=posted.object_id, type=posted.type, spec_version=posted.spec_version,
        version=posted.version, version_us=posted.version_us, level_rank=level_rank,
        topics=topics, body=posted.body, digest=posted.digest,
    )


def received_parts(network: Network, receiver: str, item: ItemStatement,
                   stix: dict[str, Any]) -> list[NewObject]:
    """The object re-marked, and the marking-definition it now references."""
    party = network.party(receiver)
    native = (party.native_level(item.level) if party else None) or item.level
    rank = REFERENCE_LEVELS.index(item.level)
    # The definition names the item's level and topics: it is as classified as the item.
    definition = _definition_part(receiver, native, item.originator, item.topics,
                                  item.rel_to, item.consent_to, rank)
    remarked = dict(stix)
    refs = stix.get("object_marking_refs", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InvalidStix(f"{item.item_id}: object_marking_refs must be a list of identifiers")
    kept = [r for r in refs if _is_known_tlp(r)]
    remarked["object_marking_refs"] = [definition.object_id, *kept]
    return [definition, _part(1, remarked, rank, frozenset(item.topics))]
