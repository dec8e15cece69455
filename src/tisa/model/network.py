"""Parties, agreements, their events, and the network that holds them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NewType

from tisa.errors import InvalidInput
from tisa.model.durations import Duration
from tisa.model.levels import REFERENCE_LEVELS, reference_rank

PartyCode = NewType("PartyCode", str)
AgreementId = NewType("AgreementId", str)

ALL_TOPICS = "*"
#: an item or agreement topic: a lower-case label such as ``nk-missile``
TOPIC_LABEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class Party:
    code: PartyCode
    name: str
    #: reference level name -> this party's native name for it
    levels: Mapping[str, str]
    endpoint: str | None = None
    public_key: str | None = None
    #: X25519 key the party's node opens sealed items with (``x25519:<base64>``)
    seal_key: str | None = None

    def native_level(self, reference: str) -> str | None:
        return self.levels.get(reference)

    def reference_level(self, native: str) -> str | None:
        for reference, name in self.levels.items():
            if name == native:
                return reference
        return None


class AgreementKind(StrEnum):
    BILATERAL = "bilateral"
    RELAY = "relay"


class EventKind(StrEnum):
    TERMINATION_NOTICE = "termination-notice"
    NOTICE_SUSPENDED = "notice-suspended"
    NOTICE_RESUMED = "notice-resumed"
    NOTICE_WITHDRAWN = "notice-withdrawn"
    TERMINATED = "terminated"
    AMENDED = "amended"


@dataclass(frozen=True, kw_only=True)
class Scope:
    """What an agreement covers: up to a reference level, and a set of topics."""

    max_level: str
    topics: frozenset[str]

    @property
    def max_rank(self) -> int:
        return reference_rank(self.max_level)

    @property
    def all_topics(self) -> bool:
        return ALL_TOPICS in self.topics

    def covers_topics(self, topics: frozenset[str]) -> bool:
        return self.all_topics or topics <= self.topics

    def describe(self) -> str:
        topics = "all topics" if self.all_topics else ", ".join(sorted(self.topics))
        return f"up to {self.max_level}, {topics}"


@dataclass(frozen=True, kw_only=True)
class ScopeChange:
    max_level: str | None = None
    topics: frozenset[str] | None = None

    def apply(self, scope: Scope) -> Scope:
        return Scope(
            max_level=self.max_level if self.max_level is not None else scope.max_level,
            topics=self.topics if self.topics is not None else scope.topics,
        )


@dataclass(frozen=True, kw_only=True)
class AgreementEvent:
    on: date
    kind: EventKind
    by: PartyCode | None = None
    changes: ScopeChange | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Agreement:
    id: AgreementId
    kind: AgreementKind
    parties: tuple[PartyCode, ...]
    scope: Scope
    in_force: date
    hub: PartyCode | None = None
    term: Duration | None = None
    notice: Duration | None = None
    events: tuple[AgreementEvent, ...] = ()
    #: relay agreements only: False means the hub carries sealed items it cannot read
    hub_reads: bool = True
    name: str | None = None

    def has_party(self, code: str) -> bool:
        return code in self.parties


@dataclass(frozen=True, kw_only=True)
class Network:
    name: str
    parties: Mapping[str, Party]
    agreements: Mapping[str, Agreement]
    #: bilateral agreement ids by unordered pair of parties, in id order
    _bilateral_index: Mapping[frozenset[str], tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    #: relay agreement ids by member, in id order
    _relay_index: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bilateral: dict[frozenset[str], list[str]] = {}
        relay: dict[str, list[str]] = {}
        for agreement_id in sorted(self.agreements):
            agreement = self.agreements[agreement_id]
            if agreement.kind is AgreementKind.BILATERAL:
                bilateral.setdefault(frozenset(agreement.parties), []).append(agreement_id)
            else:
                for member in agreement.parties:
                    relay.setdefault(member, []).append(agreement_id)
        object.__setattr__(self, "_bilateral_index", {k: tuple(v) for k, v in bilateral.items()})
        object.__setattr__(self, "_relay_index", {k: tuple(v) for k, v in relay.items()})

    def party(self, code: str) -> Party | None:
        return self.parties.get(code)

    def bilaterals_between(self, a: str, b: str) -> tuple[Agreement, ...]:
        ids = self._bilateral_index.get(frozenset((a, b)), ())
        return tuple(self.agreements[i] for i in ids)

    def relays_with(self, a: str, b: str) -> tuple[Agreement, ...]:
        """Relay agreements that have both ``a`` and ``b`` as members, in id order."""
        ids = self._relay_index.get(a, ())
        return tuple(self.agreements[i] for i in ids if self.agreements[i].has_party(b))

    def resolve_level(self, name: str, *, prefer: tuple[str, ...] = ()) -> str:
        """A reference level name for ``name``: a reference name, or a native name of the
        parties in ``prefer`` (first match wins). Anything else is an error."""
        if name in REFERENCE_LEVELS:
            return name
        for code in prefer:
            party = self.party(code)
            if party is not None and (reference := party.reference_level(name)) is not None:
                return reference
        known = sorted(
            {n for c in prefer if (p := self.party(c)) is not None for n in p.levels.values()}
        )
        hint = f" or a native name of {', '.join(prefer)} ({', '.join(known)})" if known else ""
        raise InvalidInput(
            f"unknown level {name!r}; use a reference level ({', '.join(REFERENCE_LEVELS)}){hint}"
        )
