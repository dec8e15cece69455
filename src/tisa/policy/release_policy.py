"""Cedar release decisions, one request per hop.

The base policy (``cedar/base.cedar``) encodes the agreement rules; a node may
add policy files that only ``forbid``. Policies, schema and entities are
parsed once, when the ``ReleasePolicy`` is built; each decision reuses them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import cedarpy

from tisa.errors import InvalidInput

BASE_POLICY_NAME = "base.cedar"


@dataclass(frozen=True, kw_only=True)
class HopFacts:
    """What Python knows about one hop; Cedar decides it."""

    role: str
    sender: str
    recipient: str
    originator: str
    holder: str
    agreement: str
    agreement_kind: str
    in_force: bool
    parties_covered: bool
    hub_is_third_party: bool
    rank: int
    max_rank: int
    topics: frozenset[str]
    topics_covered: bool
    releasable: bool
    recipient_can_mark: bool

    def request(self) -> dict[str, Any]:
        def party(code: str) -> dict[str, Any]:
            return {"__entity": {"type": "Party", "id": code}}

        return {
            "principal": {"type": "Party", "id": self.sender},
            "action": {"type": "Action", "id": "release"},
            "resource": {"type": "Item", "id": "item"},
            "context": {
                "role": self.role,
                "agreement": self.agreement,
                "agreement_kind": self.agreement_kind,
                "in_force": self.in_force,
                "parties_covered": self.parties_covered,
                "hub_is_third_party": self.hub_is_third_party,
                "rank": self.rank,
                "max_rank": self.max_rank,
                "topics": sorted(self.topics),
                "topics_covered": self.topics_covered,
                "originator": party(self.originator),
                "holder": party(self.holder),
                "recipient": party(self.recipient),
                "releasable": self.releasable,
                "recipient_can_mark": self.recipient_can_mark,
            },
        }


@dataclass(frozen=True, kw_only=True)
class HopVerdict:
    allowed: bool
    #: the ``@id`` of every policy that determined the decision (forbids on deny)
    policies: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PolicyFile:
    """A node's extra policy file: its name (for messages) and its text."""

    name: str
    text: str


def _bundled(name: str) -> str:
    return files("tisa.policy.cedar").joinpath(name).read_text(encoding="utf-8")


class ReleasePolicy:
    """The parsed base policy plus a node's extra forbid-only policies."""

    def __init__(self, extra: Sequence[PolicyFile] = ()) -> None:
        schema_text = _bundled("release.cedarschema")
        texts = [PolicyFile(name=BASE_POLICY_NAME, text=_bundled(BASE_POLICY_NAME))]
        for policy_file in extra:
            _check_extra_policy(policy_file, schema_text)
            texts.append(policy_file)
        combined = "\n".join(t.text for t in texts)
        _check_unique_ids(texts)
        self._policies = cedarpy.PolicySet.from_str(combined)
        self._schema = cedarpy.Schema.from_str(schema_text)
        self._entities = cedarpy.Entities.from_json_str("[]")
        self.policy_names = tuple(t.name for t in texts)

    def decide(self, hops: Sequence[HopFacts]) -> list[HopVerdict]:
        """One verdict per hop, in order, from a single batched Cedar call."""
        if not hops:
            return []
        results = cedarpy.is_authorized_batch(
            [hop.request() for hop in hops], self._policies, self._entities
        )
        verdicts = []
        for result in results:
            diagnostics = result.diagnostics
            if diagnostics.errors:
                # An evaluation error is never a permit: fail closed and say so.
                return [
                    HopVerdict(allowed=False, policies=("policy-evaluation-error",)) for _ in hops
                ]
            names = diagnostics.id_annotations_by_reason
            verdicts.append(
                HopVerdict(
                    allowed=bool(result.allowed),
                    policies=tuple(sorted(names.get(r, r) for r in diagnostics.reasons)),
                )
            )
        return verdicts


def _check_extra_policy(policy_file: PolicyFile, schema_text: str) -> None:
    where = f"policy file {policy_file.name}"
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(policy_file.text))
    except ValueError as exc:
        raise InvalidInput(f"{where}: Cedar syntax error: {exc}") from None
    statics: dict[str, Any] = parsed.get("staticPolicies", {})
    if parsed.get("templates"):
        raise InvalidInput(f"{where}: templates are not allowed; write plain forbid policies")
    if not statics:
        raise InvalidInput(f"{where}: contains no policy")
    for position, policy in enumerate(_in_order(statics.values()), start=1):
        annotations = policy.get("annotations") or {}
        label = annotations.get("id") or f"policy #{position}"
        if policy.get("effect") != "forbid":
            raise InvalidInput(
                f"{where}: {label} is a 'permit'; a node's extra policies may only 'forbid' "
                "(the base policy alone grants releases)"
            )
        if not annotations.get("id"):
            raise InvalidInput(
                f'{where}: policy #{position} has no @id("...") annotation; '
                "add one naming the reason, it is shown in every decision it causes"
            )
    result = cedarpy.validate_policies(policy_file.text, schema_text)
    if not result.validation_passed:
        details = "; ".join(str(e) for e in getattr(result, "errors", []) or [])
        raise InvalidInput(
            f"{where}: does not fit the release schema ({details or 'validation failed'}); "
            "see docs/routing.md for the facts a policy may use"
        )


def _in_order(policies: Iterable[Any]) -> list[Any]:
    return list(policies)


def _check_unique_ids(texts: Sequence[PolicyFile]) -> None:
    seen: dict[str, str] = {}
    for policy_file in texts:
        parsed = json.loads(cedarpy.policies_to_json_str(policy_file.text))
        for policy in parsed.get("staticPolicies", {}).values():
            policy_id = (policy.get("annotations") or {}).get("id")
            if policy_id is None:
                continue
            if policy_id in seen:
                raise InvalidInput(
                    f"policy file {policy_file.name}: @id({policy_id!r}) is already used in "
                    f"{seen[policy_id]}; give each policy its own id"
                )
            seen[policy_id] = policy_file.name
