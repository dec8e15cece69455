"""Several real nodes in one process, talking through ``httpx.ASGITransport``: the real
apps, stores, workers and signatures; only the sockets are left out."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from conftest import NETWORK, TAXII, auth, make_home
from starlette.applications import Starlette
from stix_samples import envelope

from tisa.api.server import build_app
from tisa.config import load_node_settings, node_public_key, node_seal_public_key
from tisa.exchange.context import Exchange
from tisa.exchange.worker import DeliveryWorker

#: what a peer's request carries (the node answers 415 to anything else)
PEER_HEADERS = {"Content-Type": "application/json"}


def endpoint(code: str) -> str:
    return f"http://{code.lower()}.test"


def keyed_network(base: str, keys: dict[str, tuple[str, str]], *,
                  endpoints: dict[str, str] | None = None) -> str:
    """The network text with ``endpoint``, ``public_key`` and ``seal_key`` per party."""
    text = base
    for code, (public, seal) in keys.items():
        url = (endpoints or {}).get(code, endpoint(code))
        text = re.sub(rf"(\[parties\.{code}\]\n)",
                      rf'\1endpoint = "{url}"\npublic_key = "{public}"\nseal_key = "{seal}"\n',
                      text)
    return text


@dataclass
class Node:
    code: str
    home: Path
    app: Starlette
    exchange: Exchange
    worker: DeliveryWorker | None = None

    def collection(self, title: str) -> str:
        return self.exchange.taxii.by_title(title).id


class Cluster:
    def __init__(self, tmp: Path, codes: tuple[str, ...] = ("KOR", "USA", "JPN"), *,
                 network: str | None = None, as_of: dict[str, date] | None = None,
                 consent_ttl: int | None = None,
                 database_urls: dict[str, str] | None = None,
                 max_content_length: dict[str, int] | None = None,
                 own_networks: dict[str, str] | None = None) -> None:
        """``own_networks``: a node whose own copy of the network file differs (its
        text, keyed like the others'); the rest share ``network``."""
        base = network or NETWORK.read_text()
        homes = {}
        for code in codes:
            path = tmp / code.lower()
            (tmp / f"{code}.toml").write_text(base)
            homes[code] = make_home(path, party=code,
                                    database_url=(database_urls or {}).get(code))
        keys = {c: (node_public_key(h), node_seal_public_key(h)) for c, h in homes.items()}
        self.network_text = keyed_network(base, keys)
        self.nodes: dict[str, Node] = {}
        for code, home in homes.items():
            own = (own_networks or {}).get(code)
            (home / "network.toml").write_text(
                self.network_text if own is None else keyed_network(own, keys))
            settings = load_node_settings(home)
            settings = dataclasses.replace(
                settings, as_of=(as_of or {}).get(code),
                consent_ttl_seconds=consent_ttl or settings.consent_ttl_seconds,
                max_content_length=(max_content_length or {}).get(
                    code, settings.max_content_length))
            app = build_app(settings, worker=False)
            self.nodes[code] = Node(code=code, home=home, app=app,
                                    exchange=app.state.exchange)
        self.client = httpx.AsyncClient(mounts={
            endpoint(c): httpx.ASGITransport(app=n.app) for c, n in self.nodes.items()})
        for node in self.nodes.values():
            node.worker = DeliveryWorker(node.exchange, self.client)

    def __getitem__(self, code: str) -> Node:
        return self.nodes[code]

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    async def settle(self, rounds: int = 50) -> None:
        """Run every worker until none has work left."""
        idle = 0
        for _ in range(rounds):
            work = 0
            for node in self.nodes.values():
                assert node.worker is not None
                work += await node.worker.run_once()
            idle = idle + 1 if work == 0 else 0
            if idle >= 2:
                return

    async def post(self, code: str, to: str, *objects: dict[str, Any],
                   user: str = "analyst") -> dict[str, Any]:
        node = self[code]
        r = await self.client.post(
            f"{endpoint(code)}/api/collections/{node.collection(to)}/objects/",
            content=json.dumps(envelope(*objects)), auth=auth(user),
            headers={"Accept": TAXII, "Content-Type": TAXII})
        assert r.status_code == 202, r.text
        result: dict[str, Any] = r.json()
        return result

    async def status(self, code: str, status_id: str, user: str = "analyst") -> dict[str, Any]:
        # The poster's own view: a status shows its owner every entry (others see less).
        r = await self.client.get(f"{endpoint(code)}/api/status/{status_id}/",
                                  auth=auth(user), headers={"Accept": TAXII})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    async def inbox(self, code: str, user: str = "admin") -> list[dict[str, Any]]:
        node = self[code]
        r = await self.client.get(
            f"{endpoint(code)}/api/collections/{node.collection('inbox')}/objects/",
            auth=auth(user), headers={"Accept": TAXII})
        assert r.status_code == 200, r.text
        objects: list[dict[str, Any]] = r.json().get("objects", [])
        return objects
