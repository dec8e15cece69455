"""The node's view of its network, and the one call into the route engine.

``decide_share`` is the seam between the TAXII service and the foundation's ``Router``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tisa.config import read_network_toml
from tisa.errors import ConfigError
from tisa.model.item_marking import ItemMarking


@dataclass(frozen=True, kw_only=True)
class ShareDecision:
    decision: str  # "direct" | "relay" | "deny"
    path: tuple[str, ...]
    agreements: tuple[str, ...]
    consent_from: tuple[str, ...]
    marking: Mapping[str, str] | None
    reasons: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "decision": self.decision,
                "path": list(self.path),
                "agreements": list(self.agreements),
                "consent_from": list(self.consent_from),
                "marking": None if self.marking is None else dict(self.marking),
                "reasons": list(self.reasons),
            },
            ensure_ascii=False,
        )


@dataclass(frozen=True, kw_only=True)
class NodeNetwork:
    """This node's party and what it needs to know about the others."""

    party: str
    parties: tuple[str, ...]
    #: party code -> native level name -> reference level name
    native_levels: Mapping[str, Mapping[str, str]]

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(p for p in self.parties if p != self.party)

    def resolve_level(self, name: str, originator: str) -> str | None:
        return self.native_levels.get(originator, {}).get(name)


def load_node_network(path: Path, party: str) -> NodeNetwork:
    data = read_network_toml(path)
    parties = data.get("parties")
    if not isinstance(parties, dict) or not parties:
        raise ConfigError(f"{path}: parties: no parties defined")
    native: dict[str, dict[str, str]] = {}
    for code, spec in parties.items():
        levels: Any = spec.get("levels", {}) if isinstance(spec, dict) else {}
        native[code] = {str(n): str(ref) for ref, n in levels.items()}
    if party not in parties:
        raise ConfigError(
            f"{path}: this node's party {party} is not in the network "
            f"(parties: {', '.join(sorted(parties))})"
        )
    return NodeNetwork(party=party, parties=tuple(sorted(parties)), native_levels=native)


def decide_share(
    network: NodeNetwork, marking: ItemMarking, recipient: str, on: date
) -> ShareDecision:
    """May this node send an item it originated to ``recipient`` today, and how?"""
    return ShareDecision(
        decision="deny",
        path=(),
        agreements=(),
        consent_from=(),
        marking=None,
        reasons=("the route engine is not available in this build; nothing is shared",),
    )
