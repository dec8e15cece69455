"""The routing rules of mission.md, one by one."""

from __future__ import annotations

from datetime import date

import pytest

from tisa.errors import InvalidInput
from tisa.model.route import RouteKind, RouteRequest
from tisa.policy.release_policy import PolicyFile, ReleasePolicy
from tisa.policy.router import Router

from .networks import bilateral, network, relay, world

BEFORE = date(2018, 6, 1)  # kor-jpn in force
AFTER = date(2019, 6, 1)  # kor-jpn ended on 2019-01-01 (no term, no notice period)


def ask(
    router: Router,
    *,
    o: str = "KOR",
    r: str = "JPN",
    level: str = "SECRET",
    topics: tuple[str, ...] = ("nk-missile",),
    on: date = BEFORE,
    holder: str | None = None,
    rel_to: tuple[str, ...] | None = None,
) -> dict[str, object]:
    decision = router.decide(
        RouteRequest(
            originator=o,
            recipient=r,
            level=level,
            topics=topics,
            on=on,
            holder=holder,
            rel_to=rel_to,
        )
    )
    return decision.to_json()


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(world())


def test_direct_when_a_bilateral_agreement_covers_the_item(router: Router) -> None:
    result = ask(router)
    assert result["decision"] == "direct"
    assert result["path"] == ["KOR", "JPN"]
    assert result["agreements"] == ["kor-jpn"]
    assert result["consent_from"] == []
    assert result["marking"] == {"level": "j2", "originator": "KOR"}


def test_relay_through_the_hub_with_consent_when_no_bilateral_is_in_force(
    router: Router,
) -> None:
    result = ask(router, on=AFTER)
    assert result["decision"] == "relay"
    assert result["path"] == ["KOR", "USA", "JPN"]
    assert result["agreements"] == ["tisa", "us-kor", "us-jpn"]
    assert result["consent_from"] == ["KOR"]
    assert result["marking"] == {"level": "j2", "originator": "KOR"}
    assert any("kor-jpn" in reason and "not in force" in reason for reason in result["reasons"])


def test_direct_is_preferred_over_relay(router: Router) -> None:
    assert ask(router, on=BEFORE)["decision"] == "direct"


def test_deny_lists_why_each_candidate_failed(router: Router) -> None:
    result = ask(router, on=AFTER, topics=("cyber",))
    assert result["decision"] == "deny"
    assert result["path"] == [] and result["agreements"] == [] and result["consent_from"] == []
    assert result["marking"] is None
    reasons = " | ".join(result["reasons"])  # type: ignore[arg-type]
    assert "kor-jpn" in reasons and "agreement-not-in-force" in reasons
    assert "tisa" in reasons and "topic-outside-agreement-scope" in reasons


def test_level_above_scope_is_denied(router: Router) -> None:
    result = ask(router, level="TOP SECRET")
    assert result["decision"] == "deny"
    assert "level-above-agreement-scope" in " ".join(result["reasons"])  # type: ignore[arg-type]


def test_native_level_names_are_accepted(router: Router) -> None:
    assert ask(router, level="k2")["marking"] == {"level": "j2", "originator": "KOR"}


def test_unknown_level_is_bad_input(router: Router) -> None:
    with pytest.raises(InvalidInput, match="unknown level 'j9'"):
        ask(router, level="j9")


def test_rel_to_without_recipient_denies(router: Router) -> None:
    result = ask(router, rel_to=("USA",))
    assert result["decision"] == "deny"
    assert result["reasons"][0] == "not releasable to JPN: REL TO USA"  # type: ignore[index]


def test_rel_to_without_hub_makes_the_relay_impossible(router: Router) -> None:
    result = ask(router, on=AFTER, rel_to=("JPN",))
    assert result["decision"] == "deny"
    assert "not releasable to USA" in " ".join(result["reasons"])  # type: ignore[arg-type]


def test_sealed_relay_carries_an_item_the_hub_may_not_read() -> None:
    sealed = Router(
        network(
            bilateral("us-kor", "USA", "KOR"),
            bilateral("us-jpn", "USA", "JPN"),
            relay("tisa", "USA", ["USA", "KOR", "JPN"], extra="hub_reads = false"),
        )
    )
    result = ask(sealed, rel_to=("JPN",))
    assert result["decision"] == "relay"
    assert result["path"] == ["KOR", "USA", "JPN"]


def test_relay_needs_both_bilateral_legs_to_cover_the_item() -> None:
    no_second_leg = Router(
        network(bilateral("us-kor", "USA", "KOR"), relay("tisa", "USA", ["USA", "KOR", "JPN"]))
    )
    result = ask(no_second_leg)
    assert result["decision"] == "deny"
    assert "at least one is missing" in " ".join(result["reasons"])  # type: ignore[arg-type]
    narrow_leg = Router(
        network(
            bilateral("us-kor", "USA", "KOR"),
            bilateral("us-jpn", "USA", "JPN", max_level="CONFIDENTIAL"),
            relay("tisa", "USA", ["USA", "KOR", "JPN"]),
        )
    )
    result = ask(narrow_leg)
    assert result["decision"] == "deny"
    assert "us-jpn (USA→JPN)" in " ".join(result["reasons"])  # type: ignore[arg-type]


def test_hub_that_is_the_recipient_is_not_a_relay() -> None:
    hub_is_recipient = Router(network(relay("tisa", "USA", ["USA", "KOR", "JPN"])))
    result = ask(hub_is_recipient, r="USA")
    assert result["decision"] == "deny"
    assert "hub-must-be-a-third-party" in " ".join(result["reasons"])  # type: ignore[arg-type]


def test_onward_sharing_needs_originator_consent_and_is_direct_only(router: Router) -> None:
    result = ask(router, holder="JPN", r="AUS")
    assert result["decision"] == "direct"
    assert result["path"] == ["JPN", "AUS"]
    assert result["agreements"] == ["jpn-aus"]
    assert result["consent_from"] == ["KOR"]
    assert result["marking"] == {"level": "a2", "originator": "KOR"}


def test_onward_sharing_is_never_relayed(router: Router) -> None:
    # USA holds KOR's item and has no bilateral agreement with AUS: no onward route at all.
    result = ask(router, holder="USA", r="AUS", topics=("nk-missile",))
    assert result["decision"] == "deny"
    assert "no bilateral agreement between USA and AUS" in " ".join(
        result["reasons"]  # type: ignore[arg-type]
    )


def test_recipient_without_a_native_name_for_the_level_is_denied() -> None:
    aus = Router(network(bilateral("kor-aus", "KOR", "AUS")))
    result = ask(aus, r="AUS", level="TOP SECRET")
    assert result["decision"] == "deny"
    assert "no-equivalent-level-at-recipient" in " ".join(
        result["reasons"]  # type: ignore[arg-type]
    )


def test_among_direct_candidates_the_alphabetically_first_agreement_wins() -> None:
    two = Router(network(bilateral("b-pact", "KOR", "JPN"), bilateral("a-pact", "KOR", "JPN")))
    assert ask(two)["agreements"] == ["a-pact"]


def test_among_relays_the_alphabetically_first_wins() -> None:
    two = Router(
        network(
            bilateral("us-kor", "USA", "KOR"),
            bilateral("us-jpn", "USA", "JPN"),
            bilateral("aus-kor", "AUS", "KOR"),
            bilateral("aus-jpn", "AUS", "JPN"),
            relay("z-relay", "USA", ["USA", "KOR", "JPN"]),
            relay("a-relay", "AUS", ["AUS", "KOR", "JPN"]),
        )
    )
    result = ask(two)
    assert result["path"] == ["KOR", "AUS", "JPN"]
    assert result["agreements"] == ["a-relay", "aus-kor", "aus-jpn"]


def test_no_agreement_at_all(router: Router) -> None:
    result = ask(router, r="AUS")
    assert result["decision"] == "deny"
    assert result["reasons"] == [  # exact: nothing to list but the absence
        "no agreement between KOR and AUS: no bilateral agreement and no relay agreement "
        "with both as members"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"o": "CHN"}, "originator: unknown party 'CHN'"),
        ({"r": "CHN"}, "recipient: unknown party 'CHN'"),
        ({"holder": "CHN"}, "holder: unknown party 'CHN'"),
        ({"rel_to": ("CHN",)}, "rel-to: unknown party 'CHN'"),
        ({"r": "KOR"}, "is the holder itself"),
        ({"topics": ()}, "at least one topic"),
        ({"topics": ("Bad Topic",)}, "lower-case label"),
    ],
)
def test_bad_questions_are_errors(router: Router, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ask(router, **kwargs)  # type: ignore[arg-type]


def test_node_forbid_policy_denies_and_is_named_in_the_reasons() -> None:
    policy = ReleasePolicy(
        [
            PolicyFile(
                name="local.cedar",
                text=(
                    '@id("no-nuclear-to-japan")\n'
                    "forbid (principal, action, resource) when {\n"
                    '  context.recipient == Party::"JPN" && context.topics.contains("nk-nuclear")\n};\n'
                ),
            )
        ]
    )
    strict = Router(world(), policy=policy)
    assert ask(strict, topics=("nk-missile",))["decision"] == "direct"
    result = ask(strict, topics=("nk-nuclear",))
    assert result["decision"] == "deny"
    assert "no-nuclear-to-japan" in " ".join(result["reasons"])  # type: ignore[arg-type]


def test_node_policy_files_may_not_permit() -> None:
    with pytest.raises(InvalidInput, match="may only 'forbid'"):
        ReleasePolicy(
            [PolicyFile(name="p.cedar", text='@id("x") permit (principal, action, resource);')]
        )


def test_node_policy_files_need_ids_and_valid_facts() -> None:
    with pytest.raises(InvalidInput, match="has no @id"):
        ReleasePolicy([PolicyFile(name="p.cedar", text="forbid (principal, action, resource);")])
    with pytest.raises(InvalidInput, match="does not fit the release schema"):
        ReleasePolicy(
            [
                PolicyFile(
                    name="p.cedar",
                    text=(
                        '@id("x") forbid (principal, action, resource) when { context.colour == "red" };'
                    ),
                )
            ]
        )
    with pytest.raises(InvalidInput, match="Cedar syntax error"):
        ReleasePolicy([PolicyFile(name="p.cedar", text="forbid (")])
    with pytest.raises(InvalidInput, match="already used"):
        ReleasePolicy(
            [
                PolicyFile(
                    name="p.cedar",
                    text=('@id("agreement-not-in-force") forbid (principal, action, resource);'),
                )
            ]
        )


def test_decisions_name_the_cedar_policies_behind_them(router: Router) -> None:
    result = ask(router, on=AFTER, level="TOP SECRET", topics=("cyber",))
    text = " ".join(result["reasons"])  # type: ignore[arg-type]
    for policy in (
        "agreement-not-in-force",
        "level-above-agreement-scope",
        "topic-outside-agreement-scope",
    ):
        assert policy in text


def test_route_kind_values_are_the_contract() -> None:
    assert [k.value for k in RouteKind] == ["direct", "relay", "deny"]
