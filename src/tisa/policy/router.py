"""Route planning: which paths the agreements allow for an item, decided hop by hop.

Python plans the candidate paths and computes the facts of each hop; the
release policy (Cedar) decides every hop. Preference (docs/routing.md):
direct before relay, fewer hops first, then agreement id in alphabetical order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from tisa.agreements.lifecycle import AgreementStatus, status_on
from tisa.errors import InvalidInput
from tisa.model.levels import reference_rank
from tisa.model.network import TOPIC_LABEL, Agreement, Network
from tisa.model.route import Marking, RouteDecision, RouteKind, RouteRequest
from tisa.policy.reasons import describe_refusal
from tisa.policy.release_policy import HopFacts, HopVerdict, ReleasePolicy

_STATUS_CACHE_LIMIT = 100_000


@dataclass(frozen=True, kw_only=True)
class _Item:
    originator: str
    holder: str
    level: str
    rank: int
    topics: frozenset[str]
    rel_to: frozenset[str] | None
    on: date


@dataclass(frozen=True, kw_only=True)
class _Candidate:
    """One way to route: its hops (facts + the agreement each relies on)."""

    kind: RouteKind
    path: tuple[str, ...]
    agreements: tuple[str, ...]
    hops: tuple[HopFacts, ...]


class Router:
    """Decides routes over one network. Immutable network; safe to share across threads."""

    def __init__(self, network: Network, *, policy: ReleasePolicy | None = None) -> None:
        self.network = network
        self.policy = policy if policy is not None else ReleasePolicy()
        self._status: dict[tuple[str, date], AgreementStatus] = {}

    def status(self, agreement: Agreement, day: date) -> AgreementStatus:
        key = (agreement.id, day)
        cached = self._status.get(key)
        if cached is None:
            if len(self._status) >= _STATUS_CACHE_LIMIT:
                self._status.clear()
            cached = self._status[key] = status_on(agreement, day)
        return cached

    def decide(self, request: RouteRequest) -> RouteDecision:
        item = self._item(request)
        recipient = request.recipient
        reasons: list[str] = []
        if item.rel_to is not None and recipient not in item.rel_to:
            reasons.append(
                f"not releasable to {recipient}: REL TO {', '.join(sorted(item.rel_to))}"
            )
        if item.holder != item.originator:
            stages = [self._onward_candidates(item, recipient)]
        else:
            stages = [
                self._direct_candidates(item, recipient),
                self._relay_candidates(item, recipient),
            ]
        refused: list[tuple[_Candidate, list[HopVerdict]]] = []
        for candidates in stages:
            chosen = self._first_allowed(candidates, refused)
            if chosen is not None:
                return self._allowed(item, recipient, chosen, refused)
        if not refused:
            reasons.append(self._no_candidate_reason(item, recipient))
        for candidate, verdicts in refused:
            reasons.extend(self._refusal_reasons(item, candidate, verdicts))
        return RouteDecision(
            decision=RouteKind.DENY,
            path=(),
            agreements=(),
            consent_from=(),
            marking=None,
            reasons=tuple(reasons),
        )

    # --- the question, checked -------------------------------------------------

    def _item(self, request: RouteRequest) -> _Item:
        network = self.network
        holder = request.effective_holder
        for role, code in (
            ("originator", request.originator),
            ("recipient", request.recipient),
            ("holder", holder),
        ):
            if network.party(code) is None:
                raise InvalidInput(
                    f"{role}: unknown party {code!r}; the network has "
                    f"{', '.join(sorted(network.parties))}"
                )
        if request.recipient == holder:
            raise InvalidInput(f"recipient {request.recipient} is the holder itself")
        for code in request.rel_to or ():
            if network.party(code) is None:
                raise InvalidInput(f"rel-to: unknown party {code!r}")
        if not request.topics:
            raise InvalidInput("an item needs at least one topic (e.g. --topic nk-missile)")
        for topic in request.topics:
            if not TOPIC_LABEL.fullmatch(topic):
                raise InvalidInput(f"topic {topic!r}: use a lower-case label like 'nk-missile'")
        level = network.resolve_level(request.level, prefer=(request.originator, holder))
        return _Item(
            originator=request.originator,
            holder=holder,
            level=level,
            rank=reference_rank(level),
            topics=frozenset(request.topics),
            rel_to=frozenset(request.rel_to) if request.rel_to is not None else None,
            on=request.on,
        )

    # --- candidates, in preference order ---------------------------------------

    def _hop(
        self,
        item: _Item,
        *,
        role: str,
        sender: str,
        recipient: str,
        agreement: Agreement,
        reads: bool = True,
        hub: str | None = None,
    ) -> HopFacts:
        status = self.status(agreement, item.on)
        receiver = self.network.parties[recipient]
        can_mark = (
            not reads
            or item.level == "UNCLASSIFIED"
            or (receiver.native_level(item.level) is not None)
        )
        return HopFacts(
            role=role,
            sender=sender,
            recipient=recipient,
            originator=item.originator,
            holder=item.holder,
            agreement=agreement.id,
            agreement_kind=agreement.kind.value,
            in_force=status.in_force,
            parties_covered=agreement.has_party(sender) and agreement.has_party(recipient),
            hub_is_third_party=hub is not None and hub not in (item.originator, recipient),
            rank=item.rank,
            max_rank=status.scope.max_rank,
            topics=item.topics,
            topics_covered=status.scope.covers_topics(item.topics),
            releasable=not reads or item.rel_to is None or recipient in item.rel_to,
            recipient_can_mark=can_mark,
        )

    def _direct_candidates(self, item: _Item, recipient: str) -> list[_Candidate]:
        return [
            _Candidate(
                kind=RouteKind.DIRECT,
                path=(item.originator, recipient),
                agreements=(agreement.id,),
                hops=(
                    self._hop(
                        item,
                        role="direct",
                        sender=item.originator,
                        recipient=recipient,
                        agreement=agreement,
                    ),
                ),
            )
            for agreement in self.network.bilaterals_between(item.originator, recipient)
        ]

    def _onward_candidates(self, item: _Item, recipient: str) -> list[_Candidate]:
        return [
            _Candidate(
                kind=RouteKind.DIRECT,
                path=(item.holder, recipient),
                agreements=(agreement.id,),
                hops=(
                    self._hop(
                        item,
                        role="onward",
                        sender=item.holder,
                        recipient=recipient,
                        agreement=agreement,
                    ),
                ),
            )
            for agreement in self.network.bilaterals_between(item.holder, recipient)
        ]

    def _relay_candidates(self, item: _Item, recipient: str) -> list[_Candidate]:
        originator = item.originator
        candidates = []
        for relay in self.network.relays_with(originator, recipient):
            hub = relay.hub
            if hub is None:
                continue
            relay_hop = self._hop(
                item, role="relay", sender=originator, recipient=recipient, agreement=relay, hub=hub
            )
            if hub in (originator, recipient):
                candidates.append(
                    _Candidate(
                        kind=RouteKind.RELAY,
                        path=(originator, recipient),
                        agreements=(relay.id,),
                        hops=(relay_hop,),
                    )
                )
                continue
            first_legs = self.network.bilaterals_between(originator, hub)
            second_legs = self.network.bilaterals_between(hub, recipient)
            if not first_legs or not second_legs:
                candidates.append(
                    _Candidate(
                        kind=RouteKind.RELAY,
                        path=(originator, hub, recipient),
                        agreements=(relay.id,),
                        hops=(relay_hop,),
                    )
                )
                continue
            for first in first_legs:
                for second in second_legs:
                    hops = (
                        relay_hop,
                        self._hop(
                            item,
                            role="to-hub",
                            sender=originator,
                            recipient=hub,
                            agreement=first,
                            reads=relay.hub_reads,
                        ),
                        self._hop(
                            item, role="from-hub", sender=hub, recipient=recipient, agreement=second
                        ),
                    )
                    candidates.append(
                        _Candidate(
                            kind=RouteKind.RELAY,
                            path=(originator, hub, recipient),
                            agreements=(relay.id, first.id, second.id),
                            hops=hops,
                        )
                    )
        return candidates

    def _first_allowed(
        self,
        candidates: Sequence[_Candidate],
        refused: list[tuple[_Candidate, list[HopVerdict]]],
    ) -> _Candidate | None:
        if not candidates:
            return None
        flat = [hop for candidate in candidates for hop in candidate.hops]
        verdicts = self.policy.decide(flat)
        position = 0
        chosen = None
        for candidate in candidates:
            mine = verdicts[position : position + len(candidate.hops)]
            position += len(candidate.hops)
            missing_leg = candidate.kind is RouteKind.RELAY and len(candidate.hops) == 1
            if chosen is None and not missing_leg and all(v.allowed for v in mine):
                chosen = candidate
            elif chosen is None:
                refused.append((candidate, mine))
        return chosen

    # --- answers ----------------------------------------------------------------

    def _allowed(
        self,
        item: _Item,
        recipient: str,
        chosen: _Candidate,
        refused: list[tuple[_Candidate, list[HopVerdict]]],
    ) -> RouteDecision:
        receiver = self.network.parties[recipient]
        native = receiver.native_level(item.level) or item.level
        reasons: list[str] = []
        for candidate, verdicts in refused:
            reasons.extend(self._refusal_reasons(item, candidate, verdicts))
        for hop in chosen.hops:
            agreement = self.network.agreements[hop.agreement]
            status = self.status(agreement, item.on)
            reasons.append(
                f"{_HOP_WORDS[hop.role].format(s=hop.sender, r=hop.recipient)} under "
                f"{agreement.id} ({status.state.value}: {status.reason})"
            )
        consent: tuple[str, ...] = ()
        if chosen.kind is RouteKind.RELAY:
            hub = chosen.path[1]
            consent = (item.originator,)
            reasons.append(
                f"{hub} releases it to {recipient} only with {item.originator}'s consent"
            )
        elif item.holder != item.originator:
            consent = (item.originator,)
            reasons.append(
                f"third-party rule: {item.holder} needs {item.originator}'s prior written "
                f"consent to release {item.originator}'s item to {recipient}"
            )
        reasons.append(
            f"{recipient} marks it {native} ({item.level}), originator {item.originator}"
        )
        return RouteDecision(
            decision=chosen.kind,
            path=chosen.path,
            agreements=chosen.agreements,
            consent_from=consent,
            marking=Marking(level=native, originator=item.originator),
            reasons=tuple(reasons),
        )

    def _refusal_reasons(
        self, item: _Item, candidate: _Candidate, verdicts: list[HopVerdict]
    ) -> list[str]:
        out = []
        if (
            candidate.kind is RouteKind.RELAY
            and len(candidate.hops) == 1
            and all(v.allowed for v in verdicts)
        ):
            relay = self.network.agreements[candidate.agreements[0]]
            hub, end = relay.hub, candidate.path[-1]
            out.append(
                f"{relay.id}: relay through {hub} needs bilateral agreements "
                f"{candidate.path[0]}–{hub} and {hub}–{end}; at least one is missing"
            )
            return out
        for hop, verdict in zip(candidate.hops, verdicts, strict=True):
            if verdict.allowed:
                continue
            agreement = self.network.agreements[hop.agreement]
            out.append(describe_refusal(hop, verdict, self.status(agreement, item.on)))
        return out

    def _no_candidate_reason(self, item: _Item, recipient: str) -> str:
        if item.holder != item.originator:
            return (
                f"no bilateral agreement between {item.holder} and {recipient}: onward sharing "
                f"of {item.originator}'s item goes only directly (third-party rule)"
            )
        return (
            f"no agreement between {item.originator} and {recipient}: no bilateral agreement "
            f"and no relay agreement with both as members"
        )


_HOP_WORDS = {
    "direct": "{s} → {r} directly",
    "onward": "{s} → {r} directly (onward sharing)",
    "relay": "{s} → {r} relayed",
    "to-hub": "{s} → {r} (to the hub)",
    "from-hub": "{s} → {r} (from the hub)",
}
