"""Reasons in words for a refused hop, naming the Cedar policies behind them."""

from __future__ import annotations

from collections.abc import Callable

from tisa.agreements.lifecycle import AgreementStatus
from tisa.model.levels import reference_name
from tisa.policy.release_policy import HopFacts, HopVerdict

_Describe = Callable[[HopFacts, AgreementStatus], str]


def _not_in_force(hop: HopFacts, status: AgreementStatus) -> str:
    return f"not in force on {status.on} ({status.state.value}: {status.reason})"


def _level(hop: HopFacts, status: AgreementStatus) -> str:
    return (
        f"the item is {reference_name(hop.rank)}, above its scope "
        f"(up to {reference_name(hop.max_rank)} on {status.on})"
    )


def _topics(hop: HopFacts, status: AgreementStatus) -> str:
    outside = sorted(hop.topics - status.scope.topics)
    return (
        f"topic(s) {', '.join(outside)} outside its scope "
        f"({', '.join(sorted(status.scope.topics))})"
    )


_DESCRIBE: dict[str, _Describe] = {
    "agreement-not-in-force": _not_in_force,
    "party-not-in-agreement": lambda hop, _: (
        f"{hop.sender} and {hop.recipient} are not both parties to it"
    ),
    "level-above-agreement-scope": _level,
    "topic-outside-agreement-scope": _topics,
    "not-releasable-to-recipient": lambda hop, _: (
        f"the item is not releasable to {hop.recipient} (REL TO)"
    ),
    "no-equivalent-level-at-recipient": lambda hop, _: (
        f"{hop.recipient} has no native level name for {reference_name(hop.rank)}, "
        "so it cannot mark the item as required"
    ),
    "hop-needs-bilateral-agreement": lambda hop, _: "a direct hop needs a bilateral agreement",
    "relay-needs-relay-agreement": lambda hop, _: "a relay needs a relay agreement",
    "hub-must-be-a-third-party": lambda hop, _: "the hub is the originator or the recipient itself",
    "onward-sharing-only-direct": lambda hop, _: (
        f"{hop.holder} holds {hop.originator}'s item and may share it onward only directly "
        "(third-party rule: never relayed further)"
    ),
    "policy-evaluation-error": lambda hop, _: "the release policy failed to evaluate (denied)",
}


def describe_refusal(hop: HopFacts, verdict: HopVerdict, status: AgreementStatus) -> str:
    """``<agreement>: <why>; <why> [policy ids]`` for one refused hop."""
    whys = []
    for policy_id in verdict.policies:
        describe = _DESCRIBE.get(policy_id)
        whys.append(
            describe(hop, status)
            if describe is not None
            else f"forbidden by node policy {policy_id!r}"
        )
    if not whys:
        whys.append("no policy permits it")
    ids = ", ".join(verdict.policies) or "no permit"
    leg = "" if hop.role in ("direct", "onward", "relay") else f" ({hop.sender}→{hop.recipient})"
    return f"{hop.agreement}{leg}: {'; '.join(whys)} [{ids}]"
