"""Properties of route decisions over random networks (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tisa.agreements.lifecycle import is_in_force, lifecycle_errors, status_on
from tisa.model.durations import parse_duration
from tisa.model.levels import REFERENCE_LEVELS, reference_rank
from tisa.model.network import (
    Agreement,
    AgreementEvent,
    AgreementId,
    AgreementKind,
    EventKind,
    Network,
    Party,
    PartyCode,
    Scope,
    ScopeChange,
)
from tisa.model.route import RouteKind, RouteRequest
from tisa.policy.router import Router

CODES = ["AAA", "BBB", "CCC", "DDD", "EEE"]
TOPICS = ["t1", "t2", "t3"]
EPOCH = date(2010, 1, 1)
LEVELS = {"CONFIDENTIAL": "c", "SECRET": "s", "TOP SECRET": "ts"}


def _party(code: str) -> Party:
    return Party(
        code=PartyCode(code),
        name=code,
        levels={k: f"{code.lower()}-{v}" for k, v in LEVELS.items()},
    )


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    topics = draw(
        st.one_of(st.just(frozenset({"*"})), st.frozensets(st.sampled_from(TOPICS), min_size=1))
    )
    return Scope(max_level=draw(st.sampled_from(REFERENCE_LEVELS[1:])), topics=topics)


@st.composite
def agreements(draw: st.DrawFn, agreement_id: str) -> Agreement:
    kind = draw(st.sampled_from(list(AgreementKind)))
    if kind is AgreementKind.BILATERAL:
        members = tuple(draw(st.permutations(CODES))[:2])
        hub = None
    else:
        members = tuple(draw(st.permutations(CODES))[: draw(st.integers(3, 5))])
        hub = draw(st.sampled_from(members))
    in_force = EPOCH + timedelta(days=draw(st.integers(0, 2000)))
    term = draw(st.sampled_from([None, "P1Y", "P6M"]))
    notice = draw(st.sampled_from([None, "P30D", "P90D"]))
    base = Agreement(
        id=AgreementId(agreement_id),
        kind=kind,
        parties=tuple(PartyCode(m) for m in members),
        scope=draw(scopes()),
        in_force=in_force,
        hub=PartyCode(hub) if hub else None,
        term=parse_duration(term) if term else None,
        notice=parse_duration(notice) if notice else None,
        hub_reads=draw(st.booleans()) if kind is AgreementKind.RELAY else True,
    )
    # Add random events, keeping only those that fit the lifecycle.
    events: list[AgreementEvent] = []
    day = in_force
    for _ in range(draw(st.integers(0, 4))):
        day = day + timedelta(days=draw(st.integers(0, 400)))
        kind_ = draw(st.sampled_from(list(EventKind)))
        changes = (
            ScopeChange(max_level=draw(st.sampled_from(REFERENCE_LEVELS[1:])), topics=None)
            if kind_ is EventKind.AMENDED
            else None
        )
        candidate = AgreementEvent(on=day, kind=kind_, by=base.parties[0], changes=changes)
        trial = Agreement(**{**base.__dict__, "events": (*events, candidate)})
        if not lifecycle_errors(trial):
            events.append(candidate)
    return Agreement(**{**base.__dict__, "events": tuple(events)})


@st.composite
def networks(draw: st.DrawFn) -> Network:
    count = draw(st.integers(1, 8))
    found = {f"a{i}": draw(agreements(f"a{i}")) for i in range(count)}
    return Network(name="random", parties={c: _party(c) for c in CODES}, agreements=found)


@st.composite
def requests(draw: st.DrawFn) -> RouteRequest:
    originator, recipient, other = draw(st.permutations(CODES))[:3]
    holder = draw(st.sampled_from([None, originator, other]))
    rel_to = draw(st.one_of(st.none(), st.lists(st.sampled_from(CODES), max_size=3)))
    return RouteRequest(
        originator=originator,
        recipient=recipient,
        level=draw(st.sampled_from([*list(REFERENCE_LEVELS[1:]), f"{originator.lower()}-s"])),
        topics=tuple(draw(st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2, unique=True))),
        on=EPOCH + timedelta(days=draw(st.integers(0, 4000))),
        holder=holder,
        rel_to=tuple(rel_to) if rel_to is not None else None,
    )


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(network=networks(), request=requests())
def test_routes_only_use_agreements_in_force_that_cover_the_item(
    network: Network, request: RouteRequest
) -> None:
    decision = Router(network).decide(request)
    if decision.decision is RouteKind.DENY:
        assert decision.path == () and decision.agreements == () and decision.marking is None
        assert decision.reasons
        return
    level = network.resolve_level(request.level, prefer=(request.originator,))
    for agreement_id in decision.agreements:
        agreement = network.agreements[agreement_id]
        assert is_in_force(agreement, request.on)
        scope = status_on(agreement, request.on).scope
        assert reference_rank(level) <= scope.max_rank
        assert scope.covers_topics(frozenset(request.topics))
    assert decision.path[-1] == request.recipient
    assert decision.path[0] == request.effective_holder
    if request.rel_to is not None:
        assert request.recipient in request.rel_to


@SETTINGS
@given(network=networks(), request=requests())
def test_relays_name_the_originator_and_onward_sharing_always_needs_consent(
    network: Network, request: RouteRequest
) -> None:
    decision = Router(network).decide(request)
    if decision.decision is RouteKind.RELAY:
        assert request.originator in decision.consent_from
        assert len(decision.path) == 3
        assert decision.path[1] not in (request.originator, request.recipient)
        assert request.effective_holder == request.originator
    if request.effective_holder != request.originator and decision.allowed:
        assert decision.decision is RouteKind.DIRECT  # never relayed further
        assert decision.consent_from == (request.originator,)
    if decision.decision is RouteKind.DIRECT and request.effective_holder == request.originator:
        assert decision.consent_from == ()
    if decision.allowed:
        assert decision.marking is not None
        assert decision.marking.originator == request.originator


@SETTINGS
@given(network=networks(), request=requests())
def test_decisions_are_deterministic(network: Network, request: RouteRequest) -> None:
    first = Router(network).decide(request)
    router = Router(network)
    assert router.decide(request) == first
    assert router.decide(request) == first  # cached lifecycle gives the same answer
