"""The ``tisa`` command: a thin layer over the services.

Every command turns a ``TisaError`` into its diagnostics on stderr and exit
code 2 (bad input); tracebacks are for bugs only.
"""

from __future__ import annotations

import typer

from tisa.cli.demo_command import demo
from tisa.cli.network_commands import network_app
from tisa.cli.route_command import route

app = typer.Typer(
    name="tisa",
    help="Share intelligence under agreements: routes, relays with consent, signed delivery, "
    "witnessed logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(network_app, name="network")
app.command("route")(route)
app.command("demo")(demo)


def main() -> None:
    app()
