"""Replay an agreement's events to learn its state on any day.

The rules are the exact ones of ``docs/agreements.md`` (from mission.md):
whole UTC days; in force from ``in_force`` inclusive; a notice ends the
agreement at the first term end E with ``notice`` fitting between the notice
day and E (or ``notice`` after the notice day when there is no term); a
suspended notice has no effect; a resumed one takes effect at once; a
withdrawn one is gone; ``terminated`` ends it at once; ``amended`` changes the
scope from its day on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from tisa.model.network import Agreement, AgreementEvent, EventKind, Scope


class AgreementState(StrEnum):
    PENDING = "pending"
    IN_FORCE = "in-force"
    NOTICE_GIVEN = "notice-given"
    NOTICE_SUSPENDED = "notice-suspended"
    TERMINATED = "terminated"


@dataclass(frozen=True, kw_only=True)
class Notice:
    given_on: date
    by: str | None
    ends_on: date
    suspended_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class _Replay:
    """The agreement as it stands after some prefix of its events."""

    scope: Scope
    notice: Notice | None = None
    ended_on: date | None = None
    end_cause: str | None = None
    amended_on: date | None = None

    def end(self) -> date | None:
        """First day not in force, as far as the events so far decide it."""
        if self.ended_on is not None:
            return self.ended_on
        if self.notice is not None and self.notice.suspended_on is None:
            return self.notice.ends_on
        return None


@dataclass(frozen=True, kw_only=True)
class AgreementStatus:
    """An agreement's state on one day and why."""

    agreement_id: str
    on: date
    state: AgreementState
    scope: Scope
    #: the first day the agreement is not in force, when one is set
    ends_on: date | None
    reason: str

    @property
    def in_force(self) -> bool:
        return self.state in (
            AgreementState.IN_FORCE,
            AgreementState.NOTICE_GIVEN,
            AgreementState.NOTICE_SUSPENDED,
        )


class LifecycleError(ValueError):
    """An event that does not fit the agreement's state on its day."""

    def __init__(self, event: AgreementEvent, index: int, message: str) -> None:
        self.event = event
        self.index = index
        super().__init__(f"{event.kind.value} on {event.on.isoformat()}: {message}")


def term_end_after_notice(agreement: Agreement, notice_day: date) -> date:
    """The day a notice given on ``notice_day`` ends the agreement (not in force from it)."""
    if agreement.term is None:
        return agreement.notice.after(notice_day) if agreement.notice else notice_day
    earliest = agreement.notice.after(notice_day) if agreement.notice else notice_day
    return _first_term_end(agreement, lambda end: end >= earliest, earliest)


def next_term_end(agreement: Agreement, day: date) -> date | None:
    """The first term end strictly after ``day`` (None without a term)."""
    if agreement.term is None:
        return None
    return _first_term_end(agreement, lambda end: end > day, day)


def _first_term_end(agreement: Agreement, fits: Callable[[date], bool], near: date) -> date:
    """The first anniversary ``in_force + k*term`` (k >= 1) that ``fits``."""
    term = agreement.term
    assert term is not None
    # Start from a k that cannot be past the answer (longest possible term), then walk.
    longest = term.years * 366 + term.months * 31 + term.days
    k = max(1, (near - agreement.in_force).days // longest)
    while not fits(end := term.after(agreement.in_force, k)):
        if end == date.max:
            return end  # no term end left in the calendar
        k += 1
    return end


def _apply(agreement: Agreement, state: _Replay, event: AgreementEvent, index: int) -> _Replay:
    end = state.end()
    if event.on < agreement.in_force:
        raise LifecycleError(
            event, index, f"the agreement is not in force yet (from {agreement.in_force})"
        )
    if end is not None and event.on >= end:
        raise LifecycleError(
            event, index, f"the agreement is not in force that day (it ended on {end})"
        )
    notice = state.notice
    match event.kind:
        case EventKind.TERMINATION_NOTICE:
            if notice is not None:
                raise LifecycleError(
                    event, index, f"a notice given on {notice.given_on} is already pending"
                )
            ends = term_end_after_notice(agreement, event.on)
            return replace(state, notice=Notice(given_on=event.on, by=event.by, ends_on=ends))
        case EventKind.NOTICE_SUSPENDED:
            if notice is None:
                raise LifecycleError(event, index, "no termination notice has been given")
            if notice.suspended_on is not None:
                raise LifecycleError(
                    event, index, f"the notice is already suspended (since {notice.suspended_on})"
                )
            return replace(state, notice=replace(notice, suspended_on=event.on))
        case EventKind.NOTICE_RESUMED:
            if notice is None or notice.suspended_on is None:
                raise LifecycleError(event, index, "there is no suspended notice to resume")
            who = f"{notice.by}'s " if notice.by else "the "
            return replace(
                state,
                ended_on=event.on,
                end_cause=f"{who}notice of {notice.given_on}, suspended on "
                f"{notice.suspended_on}, was resumed on {event.on} and took effect at once",
            )
        case EventKind.NOTICE_WITHDRAWN:
            if notice is None:
                raise LifecycleError(event, index, "withdraws a notice that was never given")
            return replace(state, notice=None)
        case EventKind.TERMINATED:
            who = f" ({event.by})" if event.by else ""
            return replace(state, ended_on=event.on, end_cause=f"terminated on {event.on}{who}")
        case EventKind.AMENDED:
            if event.changes is None:
                raise LifecycleError(event, index, "an amendment needs 'changes'")
            return replace(state, scope=event.changes.apply(state.scope), amended_on=event.on)
    raise LifecycleError(event, index, "unknown event")  # pragma: no cover - exhaustive enum


def _replay(agreement: Agreement, up_to: date | None) -> Iterator[_Replay]:
    state = _Replay(scope=agreement.scope)
    yield state
    for index, event in enumerate(ordered_events(agreement)):
        if up_to is not None and event.on > up_to:
            return
        state = _apply(agreement, state, event, index)
        yield state


def ordered_events(agreement: Agreement) -> tuple[AgreementEvent, ...]:
    """Events by day; events of the same day keep the file's order."""
    return tuple(sorted(agreement.events, key=lambda e: e.on))


def lifecycle_errors(agreement: Agreement) -> list[LifecycleError]:
    """Every event that does not fit; replay continues past a bad event by skipping it."""
    errors: list[LifecycleError] = []
    state = _Replay(scope=agreement.scope)
    for index, event in enumerate(ordered_events(agreement)):
        try:
            state = _apply(agreement, state, event, index)
        except LifecycleError as exc:
            errors.append(exc)
    return errors


def status_on(agreement: Agreement, day: date) -> AgreementStatus:
    """The agreement's state on ``day``, with the reason in words.

    Assumes a validated agreement (``lifecycle_errors`` empty); an invalid
    event raises ``LifecycleError`` rather than being guessed around.
    """
    *_, state = _replay(agreement, day)

    def status(kind: AgreementState, ends_on: date | None, reason: str) -> AgreementStatus:
        return AgreementStatus(
            agreement_id=agreement.id,
            on=day,
            state=kind,
            scope=state.scope,
            ends_on=ends_on,
            reason=reason,
        )

    if day < agreement.in_force:
        return status(AgreementState.PENDING, None, f"enters into force on {agreement.in_force}")
    end = state.end()
    notice = state.notice
    if end is not None and day >= end:
        if state.end_cause is not None:
            cause = state.end_cause
        else:
            assert notice is not None
            who = f"{notice.by}'s " if notice.by else "the "
            cause = f"{who}termination notice of {notice.given_on} took effect"
        return status(AgreementState.TERMINATED, end, f"not in force since {end}: {cause}")
    scope = f"; scope {state.scope.describe()}"
    if state.amended_on is not None:
        scope += f" (amended {state.amended_on})"
    if notice is not None and notice.suspended_on is None:
        who = f"{notice.by} " if notice.by else "a party "
        last = notice.ends_on - timedelta(days=1)
        return status(
            AgreementState.NOTICE_GIVEN,
            notice.ends_on,
            f"{who}gave notice of termination on {notice.given_on}; in force until {last}, "
            f"ends on {notice.ends_on}{scope}",
        )
    if notice is not None:
        who = f"{notice.by}'s " if notice.by else "the "
        return status(
            AgreementState.NOTICE_SUSPENDED,
            None,
            f"{who}notice of {notice.given_on} was suspended on {notice.suspended_on}; "
            f"in force while suspended (ends at once if resumed){scope}",
        )
    renewal = next_term_end(agreement, day)
    if renewal is not None:
        detail = f"; term renews automatically on {renewal}"
        if agreement.notice is not None:
            detail += f" unless notice is given {agreement.notice} before a term end"
    else:
        detail = "; no fixed term"
    return status(
        AgreementState.IN_FORCE, None, f"in force since {agreement.in_force}{detail}{scope}"
    )


def is_in_force(agreement: Agreement, day: date) -> bool:
    return status_on(agreement, day).in_force
