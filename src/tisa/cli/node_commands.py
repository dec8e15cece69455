"""``tisa node init``, ``tisa node key`` and ``tisa node network``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tisa.api.log_node import open_event_log
from tisa.api.sharing import load_node_network
from tisa.cli.errors import reports_errors
from tisa.config import (
    DATABASE_FILE,
    LOG_DATABASE_FILE,
    init_node_home,
    load_node_settings,
    node_public_key,
    node_seal_public_key,
    node_signing_key,
)
from tisa.crypto.keys import parse_public_key, public_key_bytes
from tisa.crypto.sealing import parse_seal_public_key, seal_public_key_bytes
from tisa.errors import ConfigError, InvalidInput, NetworkFileError, Problem
from tisa.ledger.log_names import log_verifier
from tisa.model.network import Party
from tisa.store.sql import SqlStore

node_app = typer.Typer(help="Create a node home and show its key.", no_args_is_help=True)


@node_app.command("init")
@reports_errors
def init(
    home: Annotated[Path, typer.Argument(help="the node home directory to create")],
    party: Annotated[str, typer.Option("--party", help="this node's party code, e.g. KOR")],
    network: Annotated[Path, typer.Option("--network", help="the network file (TOML)")],
) -> None:
    """Create a node home: configuration, SQLite database, Ed25519 signing key (0600)."""
    if not network.is_file():
        raise InvalidInput(f"{network}: network file not found; give --network FILE")
    load_node_network(network, party)  # the party must be in the network
    public_key = init_node_home(home, party=party, network_file=network)
    settings = load_node_settings(home)
    SqlStore.open(settings.database_url).close()
    open_event_log(settings).close()  # the log's own SQLite file (log.db)
    for name in (DATABASE_FILE, LOG_DATABASE_FILE):
        database = settings.home / name
        if database.exists():
            database.chmod(0o600)  # WAL and shared-memory files inherit this mode
    typer.echo(f"party: {party}")
    typer.echo(f"public key: {public_key}")


@node_app.command("key")
@reports_errors
def key(
    home: Annotated[Path, typer.Argument(help="the node home directory")],
    note: Annotated[bool, typer.Option(
        "--note", help="print the log's note verifier key instead: <origin>+<id>+<base64>"
    )] = False,
    seal: Annotated[
        bool, typer.Option("--seal", help="print the X25519 sealing key (x25519:<base64>)")
    ] = False,
) -> None:
    """Print the node's public key (ed25519:<base64>); with --note its log's verifier key,
    with --seal its sealing key."""
    if note and seal:
        raise InvalidInput("give --note or --seal, not both")
    if note:
        settings = load_node_settings(home)
        typer.echo(log_verifier(settings.party, node_signing_key(home).public_key()).verifier_key)
        return
    typer.echo(node_seal_public_key(home) if seal else node_public_key(home))


@node_app.command("network")
@reports_errors
def network(
    home: Annotated[Path, typer.Argument(help="the node home directory")],
    file: Annotated[Path, typer.Argument(help="the new network file (TOML)")],
) -> None:
    """Validate a network file and make it the node's copy (a running node reads it on
    restart): how keys and endpoints of new peers arrive."""
    settings = load_node_settings(home)
    node_network = load_node_network(file, settings.party)  # valid, this node's party in it
    _require_own_keys(home, file, node_network.network.parties[settings.party])
    text = file.read_text(encoding="utf-8")
    staged = settings.network_path.with_suffix(".toml.new")
    staged.write_text(text, encoding="utf-8")
    staged.replace(settings.network_path)
    typer.echo(f"network file replaced: {settings.network_path}")


def _require_own_keys(home: Path, file: Path, me: Party) -> None:
    """The keys the file gives this node are its own (or left out): with another key,
    peers would refuse every signature of this node, or seal items it cannot open."""
    problems = []
    own_key = node_public_key(home)
    if me.public_key is not None and (public_key_bytes(parse_public_key(me.public_key))
                                      != public_key_bytes(parse_public_key(own_key))):
        problems.append(Problem(
            where=f"party {me.code}", field="public_key",
            message=f"{me.public_key} is not this node's key ({own_key}): peers would "
                    f"refuse every signature of this node; put the key printed by "
                    f"'tisa node key {home}' there, or leave it out"))
    if me.seal_key is not None:
        try:
            own_seal: str | None = node_seal_public_key(home)
        except ConfigError:
            own_seal = None
        if own_seal is None or (seal_public_key_bytes(parse_seal_public_key(me.seal_key))
                                != seal_public_key_bytes(parse_seal_public_key(own_seal))):
            problems.append(Problem(
                where=f"party {me.code}", field="seal_key",
                message=f"{me.seal_key} is not this node's sealing key "
                        f"({own_seal or 'none in ' + str(home)}): items sealed to it could "
                        f"not be opened here; put the key printed by "
                        f"'tisa node key {home} --seal' there, or leave it out"))
    if problems:
        raise NetworkFileError(str(file), problems)
