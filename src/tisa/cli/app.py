"""The ``tisa`` command: a thin layer over the services.

Every command turns a ``TisaError`` into its diagnostics on stderr and exit
code 2 (bad input); tracebacks are for bugs only.
"""

from __future__ import annotations

import typer

from tisa.cli.audit_command import audit
from tisa.cli.consent_commands import consent_app
from tisa.cli.demo_command import demo
from tisa.cli.network_commands import network_app
from tisa.cli.node_commands import node_app
from tisa.cli.route_command import route
from tisa.cli.serve_command import serve
from tisa.cli.user_commands import user_app

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
app.add_typer(node_app, name="node")
app.add_typer(user_app, name="user")
app.command("serve")(serve)
app.command("audit")(audit)
app.add_typer(consent_app, name="consent")


def main() -> None:
    app()
