"""Node fixtures: a node home with users, an in-process app, and a real ``tisa serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from stix2validator import ValidationOptions, validate_instance

from tisa.config import init_node_home, load_node_settings
from tisa.crypto.passwords import hash_password
from tisa.model.levels import REFERENCE_LEVELS
from tisa.store.ports import UserRecord
from tisa.store.sql import SqlStore

HERE = Path(__file__).parent
NETWORK = HERE / "data" / "network.toml"
SCHEMAS = HERE / "schemas"
TAXII = "application/taxii+json;version=2.1"

#: name -> (password, clearance, topics or None, admin)
USERS: dict[str, tuple[str, str, tuple[str, ...] | None, bool]] = {
    "admin": ("admin-pw", "TOP SECRET", None, True),
    "analyst": ("analyst-pw", "SECRET", None, False),
    "conf": ("conf-pw", "CONFIDENTIAL", None, False),
    "missile": ("missile-pw", "TOP SECRET", ("nk-missile",), False),
}
_HASHES: dict[str, str] = {}


def make_home(path: Path, *, party: str = "KOR", database_url: str | None = None) -> Path:
    init_node_home(path, party=party, network_file=NETWORK)
    if database_url is not None:
        with (path / "node.toml").open("a") as f:
            f.write(f'database_url = "{database_url}"\n')
    store = SqlStore.open(load_node_settings(path).database_url)
    try:
        for name, (password, clearance, topics, admin) in USERS.items():
            if name not in _HASHES:
                _HASHES[name] = hash_password(password)
            store.add_user(UserRecord(
                name=name, password_hash=_HASHES[name],
                clearance_rank=REFERENCE_LEVELS.index(clearance),
                topics=None if topics is None else frozenset(topics), admin=admin))
    finally:
        store.close()
    return path


def auth(name: str) -> tuple[str, str]:
    return name, USERS[name][0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return self.url + "/api/"


def start_server(home: Path, *, database_url: str | None = None,
                 extra: tuple[str, ...] = (), scheme: str = "http",
                 port: int | None = None) -> Server:
    port = port or free_port()
    log = home / f"serve-{port}.log"
    cmd = [sys.executable, "-m", "tisa", "serve", str(home), "--port", str(port), *extra]
    if database_url:
        cmd += ["--database-url", database_url]
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"tisa serve exited: {log.read_text()}")
        try:
            httpx.get(url + "/taxii2/", verify=False, timeout=1)
            return Server(url=url, process=process, log=log)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"tisa serve did not start: {log.read_text()}") from None
            time.sleep(0.1)


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path / "kor")


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    s = start_server(home)
    yield s
    stop_server(s)


_OPTIONS = ValidationOptions(strict=True, schema_dir=str(SCHEMAS), version="2.1")


def assert_valid_stix(objects: list[dict[str, Any]]) -> None:
    """Every object the node returns passes stix2-validator in strict mode (offline)."""
    for obj in objects:
        result = validate_instance(obj, _OPTIONS)
        problems = [str(e) for e in result.errors] + [str(w) for w in result.warnings]
        assert result.is_valid, f"{obj.get('id')}: {problems}"


def taxii_json(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == TAXII
    return json.loads(response.content)


class AsgiClient:
    """A synchronous face on ``httpx.AsyncClient`` over ``httpx.ASGITransport``: the app
    runs in-process, each request on its own event loop."""

    def __init__(self, app: Any, base_url: str = "http://node.test") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as c:
                response = await c.request(method, url, **kw)
                await response.aread()
                return response

        return asyncio.run(send())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
