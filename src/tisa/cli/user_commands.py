"""``tisa user add``: an analyst with a clearance and a need to know."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tisa.api.sharing import load_node_network
from tisa.cli.errors import reports_errors
from tisa.config import load_node_settings
from tisa.crypto.passwords import hash_password
from tisa.errors import InvalidInput
from tisa.model.levels import REFERENCE_LEVELS
from tisa.model.network import ALL_TOPICS, TOPIC_LABEL
from tisa.store.ports import UserRecord
from tisa.store.sql import SqlStore

user_app = typer.Typer(help="Manage the node's users.", no_args_is_help=True)


@user_app.command("add")
@reports_errors
def add(
    home: Annotated[Path, typer.Argument(help="the node home directory")],
    name: Annotated[str, typer.Argument(help="the user name")],
    clearance: Annotated[
        str, typer.Option("--clearance", help="a reference level or this party's native name")
    ],
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="need to know (repeat); none means all")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="may read what was shared")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="override the node's database")
    ] = None,
) -> None:
    """Add a user; the password is read from stdin and stored as an argon2id hash."""
    if not password_stdin:
        raise InvalidInput("give the password on standard input with --password-stdin")
    if not name or ":" in name:
        raise InvalidInput(f"user name {name!r}: must be non-empty and without ':'")
    settings = load_node_settings(home, database_url=database_url)
    network = load_node_network(settings.network_path, settings.party)
    level = clearance if clearance in REFERENCE_LEVELS else network.resolve_level(
        clearance, settings.party
    )
    if level is None:
        natives = ", ".join(sorted(network.native_levels))
        raise InvalidInput(
            f"--clearance {clearance!r}: unknown level; use one of "
            f"{', '.join(REFERENCE_LEVELS)}" + (f" or {natives}" if natives else "")
        )
    need_to_know = _topics(topic)
    try:
        password = sys.stdin.buffer.readline().decode("utf-8", errors="strict").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InvalidInput("the password read from standard input is not UTF-8") from None
    if not password:
        raise InvalidInput("the password read from standard input is empty")
    store = SqlStore.open(settings.database_url)
    try:
        store.add_user(
            UserRecord(
                name=name,
                password_hash=hash_password(password),
                clearance_rank=REFERENCE_LEVELS.index(level),
                topics=need_to_know,
                admin=admin,
            )
        )
    finally:
        store.close()
    topics = ", ".join(topic) if topic else "all topics"
    typer.echo(f"user {name}: clearance {level}, {topics}{', admin' if admin else ''}")


def _topics(given: list[str] | None) -> frozenset[str] | None:
    if not given:
        return None  # all topics
    for topic in given:
        if topic == ALL_TOPICS:
            raise InvalidInput("--topic '*' is not a topic; give no --topic to mean all topics")
        if not TOPIC_LABEL.fullmatch(topic):
            raise InvalidInput(
                f"--topic {topic!r}: a topic is lower-case letters, digits, '.', '_' and "
                "'-', starting with a letter or digit (at most 64)"
            )
    return frozenset(given)
