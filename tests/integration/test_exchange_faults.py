"""Kill -9 the sender, the hub and the receiver at random moments while 500 items are
relayed (prior consent in the marking); after restarts every item is delivered exactly
once and none is lost."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import NETWORK, TAXII, Server, auth, free_port, make_home, start_server, stop_server
from exchange_cluster import keyed_network
from stix_samples import envelope, indicator, tisa_marking

from tisa.config import node_public_key, node_seal_public_key

ITEMS = 500
PER_POST = 50
AS_OF = ("--as-of", "2015-06-01")  # TISA in force, no KOR-JPN agreement yet: relay


def test_kill_any_node_at_random_moments_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(20191122)
    homes = {c: make_home(tmp_path / c.lower(), party=c) for c in ("KOR", "USA", "JPN")}
    ports = {c: free_port() for c in homes}
    keys = {c: (node_public_key(h), node_seal_public_key(h)) for c, h in homes.items()}
    network = tmp_path / "network.toml"
    network.write_text(keyed_network(NETWORK.read_text(), keys, endpoints={
        c: f"http://127.0.0.1:{p}" for c, p in ports.items()}))
    for home in homes.values():
        subprocess.run([sys.executable, "-m", "tisa", "node", "network", str(home),
                        str(network)], check=True, capture_output=True)
    servers: dict[str, Server] = {
        c: start_server(homes[c], port=ports[c], extra=AS_OF) for c in homes}
    schedule = [v for _ in range(2) for v in rng.sample(sorted(servers), 3)]
    killed: list[str] = []

    def killer() -> None:  # every node dies twice, in random order, at random moments
        for victim in schedule:
            time.sleep(rng.uniform(0.1, 0.6))
            servers[victim].process.kill()
            servers[victim].process.wait()
            killed.append(victim)
            time.sleep(rng.uniform(0.0, 0.3))
            servers[victim] = start_server(homes[victim], port=ports[victim], extra=AS_OF)

    try:
        thread = threading.Thread(target=killer)
        thread.start()
        marking = tisa_marking("SECRET", consent_to=["JPN"])
        for n in range(ITEMS // PER_POST):
            items = [indicator(marking["id"]) for _ in range(PER_POST)]
            post(servers, envelope(marking, *items) if n == 0 else envelope(*items))
            time.sleep(0.1)
        thread.join()
        deadline = time.monotonic() + 120
        while shares(homes["KOR"]) != {"success": ITEMS + 1} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert killed == schedule
        assert shares(homes["KOR"]) == {"success": ITEMS + 1}
    finally:
        for server in servers.values():
            stop_server(server)

    with sqlite3.connect(homes["JPN"] / "tisa.db") as db:
        received = db.execute("SELECT item_id FROM exchange_received").fetchall()
        inbox = db.execute(
            "SELECT object_id FROM objects o JOIN collections c ON o.collection_id = c.id "
            "WHERE c.title = 'inbox' AND o.type = 'indicator'").fetchall()
    assert len(received) == ITEMS and len({r[0] for r in received}) == ITEMS
    assert len(inbox) == ITEMS and len({r[0] for r in inbox}) == ITEMS
    with sqlite3.connect(homes["USA"] / "tisa.db") as db:
        states = dict(db.execute("SELECT state, count(*) FROM exchange_held GROUP BY state"))
    assert states == {"delivered": ITEMS}


def post(servers: dict[str, Server], body: dict[str, object]) -> None:
    """Post to KOR until it answers; a re-post of what committed is stored once."""
    for _ in range(100):
        try:
            kor = servers["KOR"]
            cols = httpx.get(f"{kor.api}collections/", auth=auth("analyst"),
                             headers={"Accept": TAXII}, timeout=10).json()["collections"]
            to_jpn = next(c["id"] for c in cols if c["title"] == "to-JPN")
            r = httpx.post(f"{kor.api}collections/{to_jpn}/objects/", content=json.dumps(body),
                           auth=auth("analyst"), timeout=30,
                           headers={"Accept": TAXII, "Content-Type": TAXII})
            if r.status_code == 202:
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("KOR never took the post")


def shares(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "tisa.db", timeout=30) as db:
        return dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
