"""A relay whose hub must not read (``hub_reads = false``): KOR seals the content to
JPN's X25519 key, the hub routes on the signed header alone, and the hub's database never
holds the plaintext."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import date
from pathlib import Path
from typing import Any

from conftest import NETWORK
from exchange_cluster import Cluster
from sqlalchemy import Engine, inspect, text
from stix_samples import indicator, tisa_marking

MARKER = "only-japan-may-read-this-7f3a"


def test_sealed_relay_hub_database_never_holds_the_plaintext(tmp_path: Path) -> None:
    network = NETWORK.read_text().replace(
        'topics = ["nk-nuclear", "nk-missile"]\nin_force = 2014-12-29',
        'topics = ["nk-nuclear", "nk-missile"]\nin_force = 2014-12-29\nhub_reads = false')
    assert "hub_reads = false" in network
    c = Cluster(tmp_path, network=network,
                as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET", consent_to=["JPN"], releasable_to=["JPN"])
    item = indicator(marking["id"], name=MARKER)

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        assert status["pending_count"] == 2, status
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["success_count"] == 2, done
        names = {o.get("name") for o in await c.inbox("JPN")}
        assert MARKER in names
    c.run(go())
    hub_text = everything_readable(c["USA"].exchange.store.engine)
    assert "sealed" in hub_text  # it did hold the item, sealed
    assert MARKER not in hub_text
    assert MARKER in everything_readable(c["JPN"].exchange.store.engine)  # the control
    c["USA"].exchange.store.engine.dispose()
    for path in (tmp_path / "usa").glob("tisa.db*"):
        assert MARKER.encode() not in path.read_bytes(), path


def everything_readable(engine: Engine) -> str:
    """Every text in every table, with JSON walked and DSSE payloads base64-decoded, so a
    plaintext hidden in an envelope would show."""
    out: list[str] = []

    def expand(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("payload"), str) and "payloadType" in value:
                expand(base64.b64decode(value["payload"]).decode("utf-8", "replace"))
            for v in value.values():
                expand(v)
        elif isinstance(value, list):
            for v in value:
                expand(v)
        elif isinstance(value, str):
            out.append(value)
            if value[:1] in "{[":
                with contextlib.suppress(ValueError):
                    expand(json.loads(value))

    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # our own table names
                for value in row:
                    expand(value)
    return "\n".join(out)
