"""Every lifecycle rule of mission.md, with boundary days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tisa.agreements.lifecycle import AgreementState, is_in_force, lifecycle_errors, status_on
from tisa.agreements.network_file import parse_network
from tisa.errors import NetworkFileError
from tisa.model.network import Agreement

PARTIES = """
name = "test"
[parties.KOR]
name = "Korea"
levels = { CONFIDENTIAL = "III", SECRET = "II", "TOP SECRET" = "I" }
[parties.JPN]
name = "Japan"
levels = { CONFIDENTIAL = "hi", SECRET = "gokuhi", "TOP SECRET" = "kimitsu" }
"""


def gsomia(
    events: str = "",
    *,
    term: str | None = '"P1Y"',
    notice: str | None = '"P90D"',
    in_force: str = "2016-11-23",
) -> Agreement:
    lines = [
        PARTIES,
        "[agreements.g]",
        'kind = "bilateral"',
        'parties = ["KOR", "JPN"]',
        'max_level = "SECRET"',
        'topics = ["*"]',
        f"in_force = {in_force}",
    ]
    if term:
        lines.append(f"term = {term}")
    if notice:
        lines.append(f"notice = {notice}")
    network = parse_network("\n".join(lines) + "\n" + events)
    return network.agreements["g"]


def event(day: str, kind: str, extra: str = "") -> str:
    return f'[[agreements.g.events]]\ndate = {day}\nevent = "{kind}"\nby = "KOR"\n{extra}\n'


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_in_force_from_its_first_day_inclusive() -> None:
    agreement = gsomia()
    assert status_on(agreement, d("2016-11-22")).state is AgreementState.PENDING
    assert status_on(agreement, d("2016-11-23")).state is AgreementState.IN_FORCE
    assert is_in_force(agreement, d("2016-11-23"))
    assert not is_in_force(agreement, d("2016-11-22"))


def test_notice_92_days_before_term_end_ends_it_at_that_term_end() -> None:
    agreement = gsomia(event("2019-08-23", "termination-notice"))
    status = status_on(agreement, d("2019-08-23"))
    assert status.state is AgreementState.NOTICE_GIVEN
    assert status.ends_on == d("2019-11-23")
    assert (d("2019-11-23") - d("2019-08-23")).days == 92
    assert is_in_force(agreement, d("2019-11-22"))  # the day before the end
    assert not is_in_force(agreement, d("2019-11-23"))  # the end day itself
    assert not is_in_force(agreement, d("2019-11-24"))  # the day after
    ended = status_on(agreement, d("2019-11-23"))
    assert ended.state is AgreementState.TERMINATED
    assert ended.ends_on == d("2019-11-23")


def test_notice_89_days_before_term_end_is_too_late_for_that_term() -> None:
    agreement = gsomia(event("2019-08-26", "termination-notice"))
    assert (d("2019-11-23") - d("2019-08-26")).days == 89
    status = status_on(agreement, d("2019-09-01"))
    assert status.ends_on == d("2020-11-23")
    assert is_in_force(agreement, d("2019-11-23"))
    assert is_in_force(agreement, d("2020-11-22"))
    assert not is_in_force(agreement, d("2020-11-23"))


def test_notice_exactly_90_days_before_is_in_time() -> None:
    agreement = gsomia(event("2019-08-25", "termination-notice"))
    assert (d("2019-11-23") - d("2019-08-25")).days == 90
    assert status_on(agreement, d("2019-08-25")).ends_on == d("2019-11-23")


def test_without_term_notice_ends_after_notice_period() -> None:
    agreement = gsomia(event("2020-01-10", "termination-notice"), term=None, notice='"P30D"')
    assert status_on(agreement, d("2020-01-10")).ends_on == d("2020-02-09")
    assert is_in_force(agreement, d("2020-02-08"))
    assert not is_in_force(agreement, d("2020-02-09"))


def test_without_term_or_notice_period_notice_ends_it_the_same_day() -> None:
    agreement = gsomia(event("2020-01-10", "termination-notice"), term=None, notice=None)
    assert is_in_force(agreement, d("2020-01-09"))
    assert not is_in_force(agreement, d("2020-01-10"))


def test_term_without_notice_period_ends_at_next_term_end() -> None:
    agreement = gsomia(event("2019-08-26", "termination-notice"), notice=None)
    assert status_on(agreement, d("2019-08-26")).ends_on == d("2019-11-23")


def test_notice_given_on_a_term_end_with_no_notice_period_ends_it_that_day() -> None:
    agreement = gsomia(event("2019-11-23", "termination-notice"), notice=None)
    assert not is_in_force(agreement, d("2019-11-23"))
    assert is_in_force(agreement, d("2019-11-22"))


def test_suspended_notice_has_no_effect() -> None:
    agreement = gsomia(
        event("2019-08-23", "termination-notice") + event("2019-11-22", "notice-suspended")
    )
    assert status_on(agreement, d("2019-11-21")).state is AgreementState.NOTICE_GIVEN
    suspended = status_on(agreement, d("2019-11-22"))
    assert suspended.state is AgreementState.NOTICE_SUSPENDED
    assert suspended.ends_on is None
    for day in ("2019-11-23", "2019-11-24", "2021-01-01"):
        assert is_in_force(agreement, d(day)), day


def test_resumed_notice_takes_effect_at_once() -> None:
    agreement = gsomia(
        event("2019-08-23", "termination-notice")
        + event("2019-11-22", "notice-suspended")
        + event("2020-06-01", "notice-resumed")
    )
    assert is_in_force(agreement, d("2020-05-31"))
    resumed = status_on(agreement, d("2020-06-01"))
    assert resumed.state is AgreementState.TERMINATED
    assert resumed.ends_on == d("2020-06-01")
    assert "resumed" in resumed.reason


def test_withdrawn_notice_restores_normal_renewal() -> None:
    agreement = gsomia(
        event("2019-08-23", "termination-notice")
        + event("2019-11-22", "notice-suspended")
        + event("2023-03-21", "notice-withdrawn")
    )
    status = status_on(agreement, d("2023-03-21"))
    assert status.state is AgreementState.IN_FORCE
    assert "2023-11-23" in status.reason
    # a new notice after withdrawal follows the normal rule again
    again = gsomia(
        event("2019-08-23", "termination-notice")
        + event("2019-09-01", "notice-withdrawn")
        + event("2024-08-20", "termination-notice")
    )
    assert status_on(again, d("2024-08-20")).ends_on == d("2024-11-23")


def test_withdrawing_a_pending_notice_before_it_takes_effect() -> None:
    agreement = gsomia(
        event("2019-08-23", "termination-notice") + event("2019-10-01", "notice-withdrawn")
    )
    assert is_in_force(agreement, d("2019-11-23"))
    assert status_on(agreement, d("2019-11-23")).state is AgreementState.IN_FORCE


def test_terminated_ends_at_once() -> None:
    agreement = gsomia(event("2018-03-01", "terminated"))
    assert is_in_force(agreement, d("2018-02-28"))
    assert not is_in_force(agreement, d("2018-03-01"))
    assert status_on(agreement, d("2018-03-01")).state is AgreementState.TERMINATED


def test_amendment_changes_scope_from_its_day_on() -> None:
    agreement = gsomia(
        event("2018-01-10", "amended", 'changes = { max_level = "CONFIDENTIAL", topics = ["a"] }')
    )
    before = status_on(agreement, d("2018-01-09"))
    after = status_on(agreement, d("2018-01-10"))
    assert before.scope.max_level == "SECRET" and before.scope.all_topics
    assert after.scope.max_level == "CONFIDENTIAL" and after.scope.topics == frozenset({"a"})
    assert "amended 2018-01-10" in after.reason


def test_partial_amendment_keeps_the_other_field() -> None:
    agreement = gsomia(event("2018-01-10", "amended", 'changes = { topics = ["a", "b"] }'))
    after = status_on(agreement, d("2018-01-10"))
    assert after.scope.max_level == "SECRET"
    assert after.scope.topics == frozenset({"a", "b"})


def test_anniversary_of_29_february_does_not_drift() -> None:
    agreement = gsomia(in_force="2016-02-29", notice=None)
    with_notice = gsomia(
        event("2020-01-01", "termination-notice"), in_force="2016-02-29", notice=None
    )
    assert status_on(with_notice, d("2020-01-01")).ends_on == d("2020-02-29")
    assert "2017-02-28" in status_on(agreement, d("2016-03-01")).reason


def test_long_lived_agreement_finds_term_end_quickly() -> None:
    agreement = gsomia(
        event("2999-08-01", "termination-notice"), in_force="1900-01-01", notice='"P30D"'
    )
    assert status_on(agreement, d("2999-08-01")).ends_on == d("3000-01-01")


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (event("2016-11-01", "termination-notice"), "not in force yet"),
        (
            event("2019-08-23", "termination-notice") + event("2019-12-01", "notice-suspended"),
            "ended on 2019-11-23",
        ),
        (event("2019-08-23", "notice-withdrawn"), "never given"),
        (event("2019-08-23", "notice-suspended"), "no termination notice"),
        (event("2019-08-23", "notice-resumed"), "no suspended notice"),
        (
            event("2019-08-23", "termination-notice") + event("2019-09-01", "termination-notice"),
            "already pending",
        ),
        (
            event("2019-08-23", "termination-notice") + event("2019-09-01", "notice-resumed"),
            "no suspended notice",
        ),
        (
            event("2018-01-01", "terminated")
            + event("2018-02-01", "amended", 'changes = { topics = ["a"] }'),
            "not in force that day",
        ),
    ],
)
def test_events_that_do_not_fit_are_errors_naming_agreement_event_and_date(
    events: str, message: str
) -> None:
    with pytest.raises(NetworkFileError) as caught:
        gsomia(events)
    text = caught.value.diagnostics()
    assert "agreement g" in text
    assert message in text


def test_lifecycle_errors_empty_for_valid_agreement() -> None:
    agreement = gsomia(event("2019-08-23", "termination-notice"))
    assert lifecycle_errors(agreement) == []


def test_every_day_around_the_2019_end_date() -> None:
    agreement = gsomia(event("2019-08-23", "termination-notice"))
    end = d("2019-11-23")
    for offset in range(-3, 4):
        day = end + timedelta(days=offset)
        assert is_in_force(agreement, day) is (offset < 0), day
