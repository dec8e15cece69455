"""``tisa network check|status``: validate a network file, and show agreements on a day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tisa.agreements.lifecycle import AgreementState, status_on
from tisa.cli.common import parse_day, print_json, reported_errors, stdout
from tisa.config import load_network

network_app = typer.Typer(
    help="Validate a network file and show its agreements' states.", no_args_is_help=True
)

FileArg = Annotated[Path, typer.Argument(help="The network file (TOML).", show_default=False)]

_STYLE = {
    AgreementState.PENDING: "dim",
    AgreementState.IN_FORCE: "green",
    AgreementState.NOTICE_GIVEN: "yellow",
    AgreementState.NOTICE_SUSPENDED: "cyan",
    AgreementState.TERMINATED: "red",
}


@network_app.command("check")
def check(file: FileArg) -> None:
    """Validate FILE: exit 0 with a summary, or exit 2 listing every problem."""
    with reported_errors():
        network = load_network(file)
    events = sum(len(a.events) for a in network.agreements.values())
    stdout.print(
        f"ok: {file}: {network.name}: {len(network.parties)} parties, "
        f"{len(network.agreements)} agreements, {events} events"
    )


@network_app.command("status")
def status(
    file: FileArg,
    on: Annotated[str, typer.Option("--on", help="The day, YYYY-MM-DD (UTC).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each agreement's state on a day, and why."""
    with reported_errors():
        day = parse_day(on)
        network = load_network(file)
    statuses = [status_on(network.agreements[i], day) for i in sorted(network.agreements)]
    if as_json:
        print_json(
            [
                {
                    "agreement": s.agreement_id,
                    "state": s.state.value,
                    "ends_on": s.ends_on.isoformat() if s.ends_on else None,
                    "reason": s.reason,
                }
                for s in statuses
            ]
        )
        return
    table = Table(title=f"{network.name} — agreements on {day}", show_lines=False)
    table.add_column("agreement", no_wrap=True)
    table.add_column("kind")
    table.add_column("parties")
    table.add_column("state", no_wrap=True)
    table.add_column("ends on", no_wrap=True)
    table.add_column("why")
    for s in statuses:
        agreement = network.agreements[s.agreement_id]
        parties = ", ".join(agreement.parties)
        if agreement.hub:
            parties += f" (hub {agreement.hub})"
        table.add_row(
            s.agreement_id,
            agreement.kind.value,
            parties,
            f"[{_STYLE[s.state]}]{s.state.value}[/]",
            s.ends_on.isoformat() if s.ends_on else "—",
            s.reason,
        )
    stdout.print(table)
