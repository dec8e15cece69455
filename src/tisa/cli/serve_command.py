"""``tisa serve``: the node's TAXII 2.1 server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from tisa.cli.common import parse_day
from tisa.cli.errors import reports_errors
from tisa.config import ServeSettings, load_node_settings, tls_settings


@reports_errors
def serve(
    home: Annotated[Path, typer.Argument(help="the node home directory")],
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="postgresql://... (default: the node's SQLite)"),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="run as if on this day (YYYY-MM-DD): route decisions"),
    ] = None,
) -> None:
    """Serve TAXII 2.1 until stopped (SIGTERM stops cleanly)."""
    from tisa.api.server import serve as run

    settings = load_node_settings(home, database_url=database_url)
    if as_of is not None:
        settings = dataclasses.replace(settings, as_of=parse_day(as_of, option="--as-of"))
    if not 0 < port < 65536:
        raise typer.BadParameter("--port must be 1..65535")
    run(settings, ServeSettings(host=host, port=port, tls=tls_settings(tls_cert, tls_key)))
