"""``tisa route``: the route decision for one item and recipient on a day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tisa.cli.common import parse_day, print_json, reported_errors, stdout
from tisa.config import load_network, load_policy_files
from tisa.model.route import RouteDecision, RouteKind, RouteRequest
from tisa.policy.release_policy import ReleasePolicy
from tisa.policy.router import Router

_COLOUR = {RouteKind.DIRECT: "green", RouteKind.RELAY: "yellow", RouteKind.DENY: "red"}


def route(
    file: Annotated[Path, typer.Argument(help="The network file (TOML).", show_default=False)],
    originator: Annotated[str, typer.Option("--from", help="The originator's party code.")],
    recipient: Annotated[str, typer.Option("--to", help="The recipient's party code.")],
    level: Annotated[str, typer.Option("--level", help="Reference or native level name.")],
    topics: Annotated[list[str], typer.Option("--topic", help="An item topic (repeatable).")],
    on: Annotated[str, typer.Option("--on", help="The day, YYYY-MM-DD (UTC).")],
    rel_to: Annotated[
        list[str] | None, typer.Option("--rel-to", help="REL TO party (repeatable).")
    ] = None,
    holder: Annotated[
        str | None, typer.Option("--holder", help="Who holds the item (default: originator).")
    ] = None,
    policies: Annotated[
        list[Path] | None,
        typer.Option("--policy", help="Extra Cedar policy file; forbid only (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """May the item go to the recipient on that day: directly, relayed with consent, or not?"""
    with reported_errors():
        day = parse_day(on)
        network = load_network(file)
        router = Router(network, policy=ReleasePolicy(load_policy_files(policies or [])))
        decision = router.decide(
            RouteRequest(
                originator=originator,
                recipient=recipient,
                level=level,
                topics=tuple(topics),
                on=day,
                holder=holder,
                rel_to=tuple(rel_to) if rel_to else None,
            )
        )
    if as_json:
        print_json(decision.to_json())
    else:
        print_decision(decision)


def print_decision(decision: RouteDecision) -> None:
    colour = _COLOUR[decision.decision]
    path = " → ".join(decision.path) if decision.path else "none"
    stdout.print(f"[bold {colour}]{decision.decision.value}[/]  path: {path}")
    if decision.agreements:
        stdout.print(f"  agreements: {', '.join(decision.agreements)}")
    if decision.consent_from:
        stdout.print(f"  consent needed from: {', '.join(decision.consent_from)}")
    if decision.marking is not None:
        stdout.print(
            f"  marking: {decision.marking.level}, originator {decision.marking.originator}"
        )
    for reason in decision.reasons:
        stdout.print(f"  - {reason}", markup=False)
