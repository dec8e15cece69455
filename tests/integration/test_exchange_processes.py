"""Real ``tisa serve`` processes on loopback: direct delivery, a relay answered with
``tisa consent approve``, ``--as-of`` in discovery and logs, and a clean SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import NETWORK, TAXII, Server, auth, free_port, make_home, start_server, stop_server
from exchange_cluster import keyed_network
from stix_samples import envelope, indicator, tisa_marking

from tisa.config import node_public_key, node_seal_public_key


@pytest.fixture
def nodes(tmp_path: Path) -> dict[str, tuple[Path, int]]:
    homes = {c: make_home(tmp_path / c.lower(), party=c) for c in ("KOR", "USA", "JPN")}
    ports = {c: free_port() for c in homes}
    keys = {c: (node_public_key(h), node_seal_public_key(h)) for c, h in homes.items()}
    text = keyed_network(NETWORK.read_text(), keys,
                         endpoints={c: f"http://127.0.0.1:{p}" for c, p in ports.items()})
    network = tmp_path / "network.toml"
    network.write_text(text)
    for home in homes.values():
        subprocess.run([sys.executable, "-m", "tisa", "node", "network", str(home),
                        str(network)], check=True, capture_output=True)
    return {c: (homes[c], ports[c]) for c in homes}


def serve(home: Path, port: int, *extra: str) -> Server:
    return start_server(home, port=port, extra=extra)


def share(server: Server, home_party: str, to: str, *objects: dict[str, Any]) -> str:
    with httpx.Client(base_url=server.url, auth=auth("analyst")) as client:
        cols = client.get("/api/collections/", headers={"Accept": TAXII}).json()["collections"]
        col = next(c["id"] for c in cols if c["title"] == to)
        r = client.post(f"/api/collections/{col}/objects/", content=json.dumps(envelope(*objects)),
                        headers={"Accept": TAXII, "Content-Type": TAXII})
        assert r.status_code == 202, r.text
        status_id: str = r.json()["id"]
        return status_id


def wait_status(server: Server, status_id: str, field: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(f"{server.api}status/{status_id}/", auth=auth("admin"),
                      headers={"Accept": TAXII})
        status: dict[str, Any] = r.json()
        if status[field] >= count or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_direct_between_real_processes_then_clean_sigterm(
        nodes: dict[str, tuple[Path, int]]) -> None:
    kor = serve(*nodes["KOR"])
    jpn = serve(*nodes["JPN"])
    try:
        marking = tisa_marking("SECRET")
        item = indicator(marking["id"])
        status_id = share(kor, "KOR", "to-JPN", marking, item)
        status = wait_status(kor, status_id, "success_count", 2)
        assert status["success_count"] == 2, status
        r = httpx.get(f"{jpn.api}collections/", auth=auth("admin"), headers={"Accept": TAXII})
        inbox = next(c["id"] for c in r.json()["collections"] if c["title"] == "inbox")
        objects = httpx.get(f"{jpn.api}collections/{inbox}/objects/", auth=auth("admin"),
                            headers={"Accept": TAXII}).json()["objects"]
        assert item["id"] in {o["id"] for o in objects}
    finally:
        assert stop_server(kor) == 0
        assert stop_server(jpn) == 0


def test_relay_with_consent_answered_on_the_command_line(
        nodes: dict[str, tuple[Path, int]]) -> None:
    servers = {c: serve(*nodes[c], "--as-of", "2015-06-01") for c in ("KOR", "USA", "JPN")}
    try:
        discovery = httpx.get(f"{servers['USA'].url}/taxii2/", auth=auth("admin"),
                              headers={"Accept": TAXII}).json()
        assert "2015-06-01" in discovery["description"]
        marking = tisa_marking("SECRET")
        item = indicator(marking["id"])
        status_id = share(servers["KOR"], "KOR", "to-JPN", marking, item)
        kor_home = nodes["KOR"][0]
        deadline = time.monotonic() + 30
        requests: list[dict[str, Any]] = []
        while not requests and time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-m", "tisa", "consent", "list",
                                  str(kor_home), "--json"], check=True, capture_output=True)
            requests = json.loads(out.stdout)
            time.sleep(0.2)
        [request] = requests
        assert set(request) == {"id", "item", "originator", "holder", "recipient",
                                "requested_at", "expires_at"}
        subprocess.run([sys.executable, "-m", "tisa", "consent", "approve", str(kor_home),
                        request["id"]], check=True, capture_output=True)
        status = wait_status(servers["KOR"], status_id, "success_count", 2)
        assert status["success_count"] == 2, status
    finally:
        for server in servers.values():
            assert stop_server(server) == 0
    assert "SIMULATED DATE" in servers["USA"].log.read_text()
