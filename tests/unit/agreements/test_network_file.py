"""The network file contract: the bundled scenario, and every kind of problem reported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tisa.agreements.lifecycle import AgreementState, status_on
from tisa.agreements.network_file import parse_network
from tisa.config import load_network
from tisa.errors import NetworkFileError
from tisa.model.network import AgreementKind

SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "korea-japan-2019.toml"

GOOD = """
name = "n"
[parties.KOR]
name = "Korea"
levels = { SECRET = "II" }
[parties.JPN]
name = "Japan"
levels = { SECRET = "gokuhi" }
[parties.USA]
name = "US"
levels = { SECRET = "SECRET" }
[agreements.tisa]
kind = "relay"
hub = "USA"
parties = ["USA", "KOR", "JPN"]
max_level = "SECRET"
topics = ["nk-missile"]
in_force = 2014-12-29
"""


def problems(text: str) -> str:
    with pytest.raises(NetworkFileError) as caught:
        parse_network(text, source="net.toml")
    return caught.value.diagnostics()


def test_bundled_scenario_is_the_real_timeline() -> None:
    network = load_network(SCENARIO)
    assert set(network.parties) == {"KOR", "JPN", "USA"}
    assert network.agreements["us-rok-gsomia"].in_force == date(1987, 9, 24)
    assert network.agreements["us-japan-gsomia"].in_force == date(2007, 8, 10)
    tisa = network.agreements["tisa"]
    assert tisa.kind is AgreementKind.RELAY and tisa.hub == "USA"
    assert tisa.scope.topics == frozenset({"nk-nuclear", "nk-missile"})
    assert tisa.in_force == date(2014, 12, 29)
    gsomia = network.agreements["kor-jpn-gsomia"]
    assert gsomia.scope.max_level == "SECRET"
    assert status_on(gsomia, date(2019, 9, 1)).ends_on == date(2019, 11, 23)
    assert status_on(gsomia, date(2019, 11, 22)).state is AgreementState.NOTICE_SUSPENDED
    assert status_on(gsomia, date(2023, 3, 21)).state is AgreementState.IN_FORCE
    assert network.parties["KOR"].native_level("SECRET") == "군사Ⅱ급비밀"
    assert network.parties["JPN"].native_level("TOP SECRET") == "機密"


def test_toml_syntax_error_names_the_line() -> None:
    text = problems('name = "n"\n[parties.KOR\nname = "x"\n')
    assert "TOML syntax error" in text and "line 2" in text


def test_unknown_party_in_agreement() -> None:
    text = problems(GOOD.replace('["USA", "KOR", "JPN"]', '["USA", "KOR", "JPN", "CHN"]'))
    assert "agreement tisa: parties: unknown party 'CHN'" in text


def test_unknown_level() -> None:
    text = problems(GOOD.replace('max_level = "SECRET"', 'max_level = "SEKRIT"'))
    assert "agreement tisa: max_level: unknown level 'SEKRIT'" in text


def test_native_level_name_as_max_level_gets_a_hint() -> None:
    text = problems(GOOD.replace('max_level = "SECRET"', 'max_level = "gokuhi"'))
    assert "JPN's 'gokuhi' is SECRET" in text


def test_unknown_reference_level_in_party_levels() -> None:
    text = problems(GOOD.replace('levels = { SECRET = "II" }', 'levels = { SECRETISH = "II" }'))
    assert "party KOR: levels.SECRETISH: unknown reference level" in text


def test_hub_not_a_member() -> None:
    text = problems(GOOD.replace('parties = ["USA", "KOR", "JPN"]', 'parties = ["KOR", "JPN"]'))
    assert "agreement tisa: hub: 'USA' is not a member" in text


def test_bad_duration() -> None:
    text = problems(GOOD + 'term = "1 year"\n')
    assert "agreement tisa: term: '1 year' is not an ISO 8601 duration" in text


def test_event_on_a_day_not_in_force() -> None:
    text = problems(GOOD + '[[agreements.tisa.events]]\ndate = 2014-01-01\nevent = "terminated"\n')
    assert (
        "agreement tisa: events[0]: terminated on 2014-01-01: the agreement is not in force" in text
    )


def test_withdrawing_a_notice_never_given() -> None:
    text = problems(
        GOOD + '[[agreements.tisa.events]]\ndate = 2015-01-01\nevent = "notice-withdrawn"\n'
    )
    assert "notice-withdrawn on 2015-01-01: withdraws a notice that was never given" in text


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = problems(
        GOOD.replace('max_level = "SECRET"', 'max_level = "X"').replace(
            'kind = "relay"', 'kind = "hubby"'
        )
        + 'notice = "soon"\n'
    )
    assert "max_level" in text and "kind" in text and "notice" in text
    assert "3 problem(s)" in text


def test_unknown_fields_are_errors_not_ignored() -> None:
    text = problems(GOOD + 'max_levle = "TOP SECRET"\n')
    assert "agreement tisa: max_levle: unknown field" in text


def test_bilateral_needs_two_parties_and_no_hub() -> None:
    text = problems(GOOD.replace('kind = "relay"', 'kind = "bilateral"'))
    assert "exactly 2 parties" in text and "only relay agreements have a hub" in text


def test_event_by_a_non_party() -> None:
    text = problems(
        GOOD.replace('["USA", "KOR", "JPN"]', '["USA", "KOR", "JPN"]')
        + '[[agreements.tisa.events]]\ndate = 2015-01-01\nevent = "termination-notice"\n'
        'by = "CHN"\n'
    )
    assert "events[0].by: 'CHN' is not a party to this agreement (not a declared party)" in text


def test_quoted_date_gets_a_hint() -> None:
    text = problems(GOOD.replace("in_force = 2014-12-29", 'in_force = "2014-12-29"'))
    assert "must be a TOML date like 2016-11-23 (no quotes, no time of day)" in text


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError) as caught:
        load_network(tmp_path / "nope.toml")
    assert "not found" in caught.value.diagnostics()


def test_bad_public_key_and_endpoint() -> None:
    text = problems(
        GOOD.replace(
            'name = "Korea"', 'name = "Korea"\nendpoint = "ftp://x"\npublic_key = "ed25519:AAAA"'
        )
    )
    assert "party KOR: endpoint" in text and "party KOR: public_key" in text


def test_seal_key_is_checked() -> None:
    text = problems(GOOD.replace('name = "Korea"', 'name = "Korea"\nseal_key = "x25519:AAAA"'))
    assert "party KOR: seal_key" in text


def test_a_native_name_that_is_another_reference_level_is_refused() -> None:
    text = problems(GOOD.replace(
        'levels = { SECRET = "II" }',
        'levels = { CONFIDENTIAL = "RESTRICTED", SECRET = "CONFIDENTIAL" }',
    ))
    assert "party KOR: levels.SECRET: native name 'CONFIDENTIAL' is the reference name of " \
        "another level" in text


def test_a_native_name_equal_to_its_own_reference_name_is_fine() -> None:
    network = parse_network(GOOD.replace('levels = { SECRET = "II" }',
                                         'levels = { SECRET = "SECRET" }'))
    assert network.parties["KOR"].native_level("SECRET") == "SECRET"


def test_date_times_are_not_days() -> None:
    text = problems(GOOD.replace("in_force = 2014-12-29", "in_force = 2014-12-29T10:00:00Z"))
    assert "in_force" in text and "no time of day" in text
    text = problems(
        GOOD + '[[agreements.tisa.events]]\ndate = 2017-01-01T00:00:00\nevent = "terminated"\n'
    )
    assert "events[0].date" in text


@pytest.mark.parametrize("duration", ["P9000Y", "P99999999999999999999D", "P20000M"])
def test_absurd_durations_are_refused(duration: str) -> None:
    assert "longer than 1000 years" in problems(GOOD + f'term = "{duration}"\n')


def test_dates_near_the_end_of_the_calendar_do_not_crash() -> None:
    network = parse_network(
        GOOD.replace("in_force = 2014-12-29", "in_force = 9999-06-01") + 'term = "P1Y"\n'
        'notice = "P90D"\n'
    )
    tisa = network.agreements["tisa"]
    assert status_on(tisa, date(9999, 12, 31)).state is AgreementState.IN_FORCE
    long_lived = parse_network(GOOD + 'term = "P1000Y"\n').agreements["tisa"]
    assert status_on(long_lived, date(9999, 12, 31)).in_force
