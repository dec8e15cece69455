"""The exchange on PostgreSQL: three nodes, each on its own database; a relay with
consent and a direct share (SKIP LOCKED outbox drain, ON CONFLICT guards, RETURNING)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from exchange_cluster import Cluster
from stix_samples import indicator, tisa_marking

from tisa.exchange.consent import ConsentDesk

pytestmark = pytest.mark.postgres


@pytest.fixture
def databases(postgres_admin_url: str) -> Iterator[dict[str, str]]:
    admin = postgres_admin_url
    names = {c: "tisa_" + secrets.token_hex(6) for c in ("KOR", "USA", "JPN")}
    base = admin.rpartition("/")[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {c: f"{base}/{n}" for c, n in names.items()}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_relay_with_consent_on_postgresql(tmp_path: Path, databases: dict[str, str]) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in databases},
                database_urls=databases)
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])
    kor = c["KOR"].exchange
    desk = ConsentDesk(party="KOR", store=kor.store, signing_key=kor.signing_key)

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = desk.open_requests()
        desk.approve(request["id"])
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        assert item["id"] in {o["id"] for o in await c.inbox("JPN")}
    c.run(go())
