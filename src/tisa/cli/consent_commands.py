"""``tisa consent list|approve|deny``: the originator's analysts answer hubs' requests to
relay its items. Works on the node home directly (the running node sends the answers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tisa.cli.common import print_json
from tisa.cli.errors import reports_errors
from tisa.config import SIGNING_KEY_FILE, load_node_settings
from tisa.crypto.keys import load_private_key
from tisa.exchange.consent import ConsentDesk
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.sql import SqlStore

consent_app = typer.Typer(help="Answer requests to relay this party's items.",
                          no_args_is_help=True)

Home = Annotated[Path, typer.Argument(help="the node home directory")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="override the node's database")
]


@contextmanager
def _desk(home: Path, database_url: str | None) -> Iterator[ConsentDesk]:
    settings = load_node_settings(home, database_url=database_url)
    store = SqlStore.open(settings.database_url)
    try:
        yield ConsentDesk(party=settings.party, store=ExchangeStore(store.engine),
                          signing_key=load_private_key(home / SIGNING_KEY_FILE))
    finally:
        store.close()


@consent_app.command("list")
@reports_errors
def list_requests(
    home: Home,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Open consent requests: id, item, originator, holder, recipient, requested/expires."""
    with _desk(home, database_url) as desk:
        requests = desk.open_requests()
    if as_json:
        print_json(requests)
        return
    if not requests:
        typer.echo("no open consent requests")
    for r in requests:
        typer.echo(f"{r['id']}  {r['item']}  {r['originator']} -> {r['holder']} -> "
                   f"{r['recipient']}  requested {r['requested_at']}  "
                   f"expires {r['expires_at']}")


@consent_app.command("approve")
@reports_errors
def approve(home: Home, request_id: Annotated[str, typer.Argument(help="request id")],
            database_url: DatabaseUrl = None) -> None:
    """Sign consent for the holder to relay the item to the recipient."""
    with _desk(home, database_url) as desk:
        desk.approve(request_id)
    typer.echo(f"approved {request_id}")


@consent_app.command("deny")
@reports_errors
def deny(home: Home, request_id: Annotated[str, typer.Argument(help="request id")],
         reason: Annotated[str, typer.Option("--reason", help="why (sent to the hub)")] = "",
         database_url: DatabaseUrl = None) -> None:
    """Refuse, signed; the hub drops the item and the share fails with the reason."""
    with _desk(home, database_url) as desk:
        desk.deny(request_id, reason)
    typer.echo(f"denied {request_id}")
