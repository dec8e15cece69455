"""Migration 0004 (each share its own row, keyed by ``ref``) on SQLite and PostgreSQL:
existing rows survive with ``ref = envelope_sha256``, one envelope may now back several
shares, the schema matches ``exchange_tables``, and the downgrade keeps one row per
envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from tisa.store.exchange_sql import ExchangeStore
from tisa.store.exchange_tables import exchange_held, exchange_messages, exchange_sent
from tisa.store.exchange_tables import metadata as exchange_metadata
from tisa.store.migrate import MIGRATIONS, migrate
from tisa.store.sql import engine_for

D = "d" * 64  # an envelope JPN shares onward (before 0004: to one party only)
H = "h" * 64  # an envelope a hub holds


def to_revision(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = engine_for(database_url)
    yield engine
    engine.dispose()


def sent_row(outbox_id: int, digest: str, **extra: Any) -> dict[str, Any]:
    return {"outbox_id": outbox_id, "envelope_sha256": digest, "envelope": "{}",
            "recipient": "AUS", "next_hop": "AUS", "item_id": "indicator--1",
            "version_us": 5, "receipt": None, **extra}


def held_row(digest: str, recipient: str, **extra: Any) -> dict[str, Any]:
    return {"envelope_sha256": digest, "envelope": "{}", "originator": "KOR",
            "recipient": recipient, "item_id": "indicator--1", "item_version": "v",
            "state": "awaiting", "request_id": f"req-{recipient}", "consent": None,
            "expires_us": 9, "held_us": 1, **extra}


def legacy_rows(engine: Engine) -> None:
    """Rows as a 0003 node wrote them (the tables as they were then)."""
    old = MetaData()
    old.reflect(engine, only=["exchange_sent", "exchange_held"])
    with engine.begin() as conn:
        conn.execute(insert(old.tables["exchange_sent"]), [sent_row(7, D)])
        conn.execute(insert(old.tables["exchange_held"]),
                     [held_row(D, "AUS"), held_row(H, "JPN", state="forward")])
        conn.execute(insert(exchange_messages), [{
            "peer": "KOR", "kind": "consent-request", "body": "{}", "ref": D,
            "state": "pending", "attempts": 0, "next_attempt_us": 0, "last_error": ""}])


def test_upgrade_keeps_existing_rows_under_their_digest(engine: Engine) -> None:
    to_revision(engine, "0003")
    legacy_rows(engine)
    migrate(engine)
    store = ExchangeStore(engine)
    sent = store.sent(D)
    assert sent is not None and sent["outbox_id"] == 7 and sent["ref"] == D
    held = store.held(D)
    assert held is not None and held["recipient"] == "AUS" and held["ref"] == D
    assert store.held_by_request("req-AUS") == held
    hub = store.held(H)
    assert hub is not None and hub["state"] == "forward"
    assert [m["ref"] for m in store.due_messages(10)] == [D]  # names its row still
    # Now the same envelope backs a second onward share, in its own rows.
    with engine.begin() as conn:
        conn.execute(insert(exchange_sent), [sent_row(8, D, recipient="USA",
                                                      next_hop="USA", ref=f"{D}:8")])
        conn.execute(insert(exchange_held), [held_row(D, "USA", ref=f"{D}:8")])
    assert store.sent(f"{D}:8")["recipient"] == "USA"  # type: ignore[index]
    assert store.held(f"{D}:8")["recipient"] == "USA"  # type: ignore[index]
    assert store.update_held(f"{D}:8", expect=["awaiting"], state="dropped")
    assert store.held(D)["state"] == "awaiting"  # type: ignore[index]
    # A ref names one row.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(exchange_sent), [sent_row(9, D, ref=D)])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(exchange_held), [held_row(D, "NZL", ref=D)])


def test_schema_matches_the_tables_module(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), exchange_metadata)
    ours = {"exchange_sent", "exchange_held"}

    def table_of(diff: Any) -> str | None:
        change = diff[0] if isinstance(diff, list) else diff
        for part in change[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None) in ours:
                return str(table.name)
            if name in ours:
                return str(name)
            if isinstance(part, str) and part in ours:
                return part
        return None

    assert [d for d in diffs if table_of(d) is not None] == []


def test_downgrade_keeps_one_row_per_envelope(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(exchange_sent), [sent_row(7, D, ref=D),
                                             sent_row(8, D, ref=f"{D}:8")])
        conn.execute(insert(exchange_held), [held_row(D, "AUS", ref=D),
                                             held_row(D, "USA", ref=f"{D}:8")])
    to_revision(engine, "0003", down=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT outbox_id FROM exchange_sent")).scalars().all() == [7]
        assert conn.execute(text("SELECT recipient FROM exchange_held")).scalars().all() == \
            ["AUS"]
    migrate(engine)  # and up again
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(exchange_sent)).scalar() == 1
