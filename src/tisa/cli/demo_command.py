"""``tisa demo``: the 2019 Korea–Japan story, replayed as route decisions on a timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.rule import Rule

from tisa.agreements.lifecycle import ordered_events
from tisa.agreements.what_if import without_events_from
from tisa.cli.common import boxed, fail, reported_errors, stdout
from tisa.cli.route_command import print_decision
from tisa.config import load_network
from tisa.model.network import Network
from tisa.model.route import RouteRequest
from tisa.policy.router import Router

GSOMIA = "kor-jpn-gsomia"
SUSPENSION_DAY = date(2019, 11, 22)


@dataclass(frozen=True, kw_only=True)
class Scene:
    on: date
    title: str
    request: RouteRequest
    lesson: str
    what_if: bool = False


def _item(
    on: str,
    level: str,
    topic: str,
    *,
    recipient: str = "JPN",
    holder: str | None = None,
    rel_to: tuple[str, ...] | None = None,
) -> RouteRequest:
    return RouteRequest(
        originator="KOR",
        recipient=recipient,
        level=level,
        topics=(topic,),
        on=date.fromisoformat(on),
        holder=holder,
        rel_to=rel_to,
    )


SCENES = (
    Scene(
        on=date(2017, 5, 14),
        title="A North Korean missile launch: Korea shares its SECRET assessment with Japan",
        request=_item("2017-05-14", "SECRET", "nk-missile"),
        lesson="GSOMIA is in force: Korea sends directly, and Japan marks it with its own "
        "equivalent level and Korea as originator.",
    ),
    Scene(
        on=date(2017, 5, 14),
        title="The same day, a TOP SECRET item",
        request=_item("2017-05-14", "TOP SECRET", "nk-nuclear"),
        lesson="Neither GSOMIA nor TISA ever covered TOP SECRET: no route at all.",
    ),
    Scene(
        on=date(2017, 5, 14),
        title="Japan wants to pass Korea's item on to the United States",
        request=_item("2017-05-14", "SECRET", "nk-missile", recipient="USA", holder="JPN"),
        lesson="Third-party rule: a receiver passes an item on only with the originator's "
        "prior written consent, and only directly.",
    ),
    Scene(
        on=date(2019, 9, 15),
        title="After Korea's notice of termination (23 Aug 2019)",
        request=_item("2019-09-15", "SECRET", "nk-missile"),
        lesson="A notice does not end the agreement at once: 92 days before the term end, it "
        "takes effect on 23 Nov 2019. Until then, still direct.",
    ),
    Scene(
        on=date(2019, 11, 25),
        title="After Korea suspended its notice (22 Nov 2019)",
        request=_item("2019-11-25", "SECRET", "nk-missile"),
        lesson="A suspended notice has no effect: GSOMIA stays in force.",
    ),
    Scene(
        on=date(2019, 11, 25),
        title="the suspension never happened: GSOMIA ended on 23 Nov 2019, TISA remains",
        request=_item("2019-11-25", "SECRET", "nk-missile"),
        lesson="No bilateral route: the item goes to the United States, which releases it "
        "to Japan only with Korea's consent — what Seoul announced in August 2019.",
        what_if=True,
    ),
    Scene(
        on=date(2019, 12, 10),
        title="an item off TISA's topics (a cyber intrusion report)",
        request=_item("2019-12-10", "SECRET", "cyber"),
        lesson="TISA covers only North Korean nuclear and missile threats: denied.",
        what_if=True,
    ),
    Scene(
        on=date(2019, 12, 10),
        title="an item Korea marked REL TO JPN only",
        request=_item("2019-12-10", "CONFIDENTIAL", "nk-nuclear", rel_to=("JPN",)),
        lesson="The hub would read it, but it is not releasable to the United States: "
        "denied (unless the relay carried it sealed).",
        what_if=True,
    ),
    Scene(
        on=date(2023, 4, 1),
        title="After Korea withdrew its notice (21 Mar 2023)",
        request=_item("2023-04-01", "SECRET", "nk-missile"),
        lesson="The notice was withdrawn: GSOMIA renews normally, direct again.",
    ),
)

INTRO = (
    "In August 2019 South Korea gave notice to end its military-intelligence agreement "
    "with Japan (GSOMIA) and said it would share through the United States instead, "
    "under the 2014 Trilateral Information Sharing Arrangement (TISA). With a bilateral "
    "agreement in force, two parties share directly; without one, the hub relays an item "
    "only with the originator's consent, and only what the arrangement covers "
    "(North Korean nuclear and missile threats, up to SECRET).\n\n"
    "Below, the same kind of item is routed on different days. Each answer comes from the "
    "agreements in force that day."
)


def demo(
    file: Annotated[Path, typer.Argument(help="The bundled scenario file.")] = Path(
        "scenarios/korea-japan-2019.toml"
    ),
    live: Annotated[
        bool, typer.Option("--live", help="three real nodes on loopback replay it (make demo)")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="route decisions only, no nodes (the default)")
    ] = False,
) -> None:
    """Replay the 2019 Korea–Japan story: route decisions, or (--live) real nodes."""
    if live and not offline:
        from tisa.cli.live_demo import run_live_demo

        with reported_errors():
            run_live_demo(file)
        return
    with reported_errors():
        network = load_network(file)
        if not {"KOR", "JPN", "USA"} <= set(network.parties) or GSOMIA not in network.agreements:
            fail(f"{file}: the demo needs parties KOR, JPN, USA and agreement {GSOMIA}")
        real = Router(network)
        what_if = Router(without_events_from(network, GSOMIA, SUSPENSION_DAY))
    boxed.print(Panel(INTRO, title=f"tisa demo — {network.name}", expand=False))
    _print_agreements(network)
    for number, scene in enumerate(SCENES, start=1):
        world = "[magenta]what if[/] " if scene.what_if else ""
        stdout.print(Rule(f"{number}. {scene.on}  {world}{scene.title}", align="left"))
        request = scene.request
        holder = request.holder or request.originator
        stdout.print(
            f"  item: {request.level} {', '.join(request.topics)}, originator "
            f"{request.originator}, held by {holder}, to {request.recipient}"
            + (f", REL TO {', '.join(request.rel_to)}" if request.rel_to else "")
        )
        print_decision((what_if if scene.what_if else real).decide(request))
        stdout.print(f"  [italic]{scene.lesson}[/]")
    stdout.print()


def _print_agreements(network: Network) -> None:
    stdout.print("[bold]The agreements and what happened to them:[/]")
    for agreement_id in sorted(network.agreements, key=lambda i: network.agreements[i].in_force):
        agreement = network.agreements[agreement_id]
        hub = f", hub {agreement.hub}" if agreement.hub else ""
        stdout.print(
            f"  {agreement.in_force}  {agreement_id}: {agreement.kind.value} "
            f"{', '.join(agreement.parties)}{hub}; {agreement.scope.describe()}"
        )
        for event in ordered_events(agreement):
            by = f" by {event.by}" if event.by else ""
            stdout.print(f"      {event.on}  {event.kind.value}{by}", markup=False)
