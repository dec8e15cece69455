"""Route questions and answers: may holder H pass item I to recipient R on day D, and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


class RouteKind(StrEnum):
    DIRECT = "direct"
    RELAY = "relay"
    DENY = "deny"


@dataclass(frozen=True, kw_only=True)
class RouteRequest:
    """The question. ``level`` is a reference name or a native name of the originator or
    holder; ``holder`` defaults to the originator; ``rel_to`` None means no REL TO list."""

    originator: str
    recipient: str
    level: str
    topics: tuple[str, ...]
    on: date
    holder: str | None = None
    rel_to: tuple[str, ...] | None = None

    @property
    def effective_holder(self) -> str:
        return self.holder if self.holder is not None else self.originator


@dataclass(frozen=True, kw_only=True)
class Marking:
    """How the recipient marks the item on receipt (GSOMIA Art. 4)."""

    level: str
    originator: str


@dataclass(frozen=True, kw_only=True)
class RouteDecision:
    decision: RouteKind
    path: tuple[str, ...]
    agreements: tuple[str, ...]
    consent_from: tuple[str, ...]
    marking: Marking | None
    reasons: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.decision is not RouteKind.DENY

    def to_json(self) -> dict[str, Any]:
        """The contract shape printed by ``tisa route --json``."""
        return {
            "decision": self.decision.value,
            "path": list(self.path),
            "agreements": list(self.agreements),
            "consent_from": list(self.consent_from),
            "marking": (
                None
                if self.marking is None
                else {"level": self.marking.level, "originator": self.marking.originator}
            ),
            "reasons": list(self.reasons),
        }
