"""``tisa demo --live``: three real nodes (KOR, USA, JPN) on loopback replay the story.

Temporary node homes, fresh keys written into a temporary copy of the scenario with
endpoints, one ``tisa serve --as-of DAY`` per node and scene; each share is posted to
KOR's TAXII server and followed hop by hop (from KOR's status and the nodes' own logs)
until it ends; consent is answered as KOR's analysts would. Everything is stopped with
SIGTERM at the end of each scene.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from tisa.agreements.what_if import without_events_from
from tisa.cli.common import stdout
from tisa.config import (
    init_node_home,
    load_network,
    load_node_settings,
    node_public_key,
    node_seal_public_key,
)
from tisa.crypto.keys import load_private_key
from tisa.crypto.passwords import hash_password
from tisa.errors import InvalidInput
from tisa.exchange.consent import ConsentDesk
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.ports import UserRecord
from tisa.store.sql import SqlStore

PARTIES = ("KOR", "USA", "JPN")
GSOMIA = "kor-jpn-gsomia"
SUSPENSION = date(2019, 11, 22)
TAXII = "application/taxii+json;version=2.1"
EXT = "extension-definition--e85c7fa0-c18a-46d5-ac9f-9d19977f175f"


@dataclass(frozen=True, kw_only=True)
class LiveScene:
    day: date
    what_if: bool
    title: str
    level: str
    topic: str
    consent: str | None = None  # "approve" or "deny" when a hub asks


SCENES = (
    LiveScene(day=date(2017, 5, 14), what_if=False, level="군사Ⅱ급비밀", topic="nk-missile",
              title="GSOMIA in force: KOR shares a SECRET missile assessment with JPN"),
    LiveScene(day=date(2019, 9, 15), what_if=False, level="군사Ⅱ급비밀", topic="nk-missile",
              title="after KOR's notice of 23 Aug 2019: still direct until it takes effect"),
    LiveScene(day=date(2019, 11, 25), what_if=True, level="군사Ⅱ급비밀", topic="nk-missile",
              consent="approve",
              title="the suspension never happened: relayed by USA with KOR's consent"),
    LiveScene(day=date(2019, 12, 10), what_if=True, level="군사Ⅱ급비밀", topic="cyber",
              title="an off-topic item (cyber): TISA does not cover it, denied"),
    LiveScene(day=date(2023, 4, 1), what_if=False, level="군사Ⅱ급비밀", topic="nk-missile",
              title="after KOR withdrew its notice (21 Mar 2023): direct again"),
)


def what_if_text(text: str) -> str:
    """The scenario without the GSOMIA events from the suspension on (a textual copy the
    nodes can load; checked against ``without_events_from``)."""
    blocks = re.split(r"(?=^\[\[agreements\." + GSOMIA + r"\.events\]\])", text, flags=re.M)
    kept = [b for b in blocks
            if not (b.startswith(f"[[agreements.{GSOMIA}.events]]")
                    and date.fromisoformat(re.search(r"date = (\S+)", b).group(1)  # type: ignore[union-attr]
                                           ) >= SUSPENSION)]
    return "".join(kept)


def _keyed(text: str, keys: dict[str, tuple[str, str, int]]) -> str:
    for code, (public, seal, port) in keys.items():
        text = re.sub(rf"(\[parties\.{code}\]\n)",
                      rf'\1endpoint = "http://127.0.0.1:{port}"\npublic_key = "{public}"\n'
                      rf'seal_key = "{seal}"\n', text)
    return text


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ports() -> dict[str, int]:
    """Free loopback ports for the parties, all different."""
    ports: list[int] = []
    while len(ports) < len(PARTIES):
        if (port := _port()) not in ports:
            ports.append(port)
    return dict(zip(PARTIES, ports, strict=True))


class LiveDemo:
    def __init__(self, scenario: Path, root: Path) -> None:
        self.root = root
        text = scenario.read_text(encoding="utf-8")
        self.password = secrets.token_urlsafe(16)
        self.homes: dict[str, Path] = {}
        for code in PARTIES:
            home = root / code.lower()
            init_node_home(home, party=code, network_file=scenario)
            store = SqlStore.open(load_node_settings(home).database_url)
            store.add_user(UserRecord(name="officer", password_hash=hash_password(self.password),
                                      clearance_rank=3, topics=None, admin=True))
            store.close()
            self.homes[code] = home
        self.ports: dict[str, int] = {}
        self.keys = {c: (node_public_key(h), node_seal_public_key(h))
                     for c, h in self.homes.items()}
        self.real = text
        self.what_if = what_if_text(text)
        (root / "what-if.toml").write_text(self.what_if, encoding="utf-8")
        expected = without_events_from(load_network(scenario), GSOMIA, SUSPENSION)
        if load_network(root / "what-if.toml").agreements[GSOMIA].events != \
                expected.agreements[GSOMIA].events:
            raise InvalidInput("the what-if copy does not match without_events_from")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.log_offsets: dict[str, int] = {}

    # -- nodes -------------------------------------------------------------------------

    def start(self, scene: LiveScene, *, attempts: int = 3) -> None:
        """Start the three nodes on fresh free ports (picked for each scene: a port free
        a scene ago may be taken by now). A port taken between picking and binding — by
        another demo, say — shows as a node that exits or a server that is not ours:
        stop all three and start again on new ports. Still failing: the error carries
        each failed node's log tail (the home is a temporary directory, gone by then)."""
        failures: list[str] = []
        for attempt in range(1, attempts + 1):
            self.ports = _ports()
            failed = self._launch(scene)
            if not failed:
                stdout.print(f"  [dim]nodes up: "
                             f"{', '.join(f'{c} :{self.ports[c]}' for c in PARTIES)}"
                             f" (as of {scene.day})[/]")
                return
            failures = [f"node {code} did not start on port {self.ports[code]} "
                        f"(attempt {attempt} of {attempts}): {why}\n{self._log_tail(code)}"
                        for code, why in failed.items()]
            self._halt()
            if attempt < attempts:
                stdout.print(f"  [dim]{', '.join(failed)} did not start on "
                             f"{', '.join(str(self.ports[c]) for c in failed)}; "
                             "starting again on fresh ports[/]")
        raise InvalidInput("\n".join(failures))

    def _launch(self, scene: LiveScene) -> dict[str, str]:
        """Start all three; the ones that did not come up, with why."""
        keys = {c: (public, seal, self.ports[c]) for c, (public, seal) in self.keys.items()}
        network = _keyed(self.what_if if scene.what_if else self.real, keys)
        for code, home in self.homes.items():
            (home / "network.toml").write_text(network, encoding="utf-8")
            log = home / "serve.log"
            self.log_offsets[code] = log.stat().st_size if log.exists() else 0
            self.processes[code] = subprocess.Popen(  # noqa: S603 (our own command)
                [sys.executable, "-m", "tisa", "serve", str(home), "--port",
                 str(self.ports[code]), "--as-of", scene.day.isoformat()],
                stdout=log.open("ab"), stderr=subprocess.STDOUT)
        failed = {}
        for code in PARTIES:
            why = self._wait_ready(code)
            if why is not None:
                failed[code] = why
        return failed

    def _wait_ready(self, code: str, timeout: float = 30) -> str | None:
        """None once this demo's node answers (with this demo's password); else why not."""
        process = self.processes[code]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{self.url(code)}/taxii2/", auth=("officer", self.password),
                              headers={"Accept": TAXII}, timeout=1)
                if r.status_code == 200:
                    return None
                if process.poll() is not None:
                    return f"it exited with code {process.returncode}"
                # Another server on the port: not ours, or not ready for us yet.
            except httpx.TransportError:
                if process.poll() is not None:
                    return f"it exited with code {process.returncode}"
            time.sleep(0.1)
        return f"no answer within {timeout:.0f} s"

    def _log_tail(self, code: str, lines: int = 15) -> str:
        log = self.homes[code] / "serve.log"
        try:
            with log.open("rb") as f:
                f.seek(self.log_offsets.get(code, 0))
                data = f.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"  (no log: {exc.strerror})"
        tail = data.splitlines()[-lines:]
        return "\n".join(f"  | {line}" for line in tail) if tail else "  (its log is empty)"

    def _halt(self) -> None:
        """Stop whatever of an attempt is running, quietly."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in self.processes.values()]
        self.processes.clear()
        stdout.print(f"  [dim]nodes stopped (SIGTERM), exit codes {codes}[/]")

    def url(self, code: str) -> str:
        return f"http://127.0.0.1:{self.ports[code]}"

    # -- one scene ---------------------------------------------------------------------

    def play(self, scene: LiveScene) -> None:
        client = httpx.Client(base_url=self.url("KOR"), auth=("officer", self.password),
                              headers={"Accept": TAXII, "Content-Type": TAXII})
        marking, item = _item(scene)
        cols = client.get("/api/collections/").json()["collections"]
        to_jpn = next(c["id"] for c in cols if c["title"] == "to-JPN")
        stdout.print(f"  KOR analyst posts {item['id']} ({scene.level}, {scene.topic}) "
                     "to KOR's to-JPN collection")
        status = client.post(f"/api/collections/{to_jpn}/objects/",
                             content=json.dumps({"objects": [marking, item]})).json()
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._print_hops()
            entry = self._entry(client, status["id"], item["id"])
            if entry[1] not in seen:
                seen.add(entry[1])
                stdout.print(f"  [bold]KOR's TAXII status[/]: {entry[0]}: {entry[1]}")
            if entry[0] != "pending":
                break
            if scene.consent:
                self._answer(scene.consent)
            time.sleep(0.1)
        time.sleep(0.3)
        self._print_hops()
        if scene.topic != "cyber":
            self._show_inbox(item["id"])

    def _entry(self, client: httpx.Client, status_id: str, object_id: str) -> tuple[str, str]:
        status = client.get(f"/api/status/{status_id}/").json()
        for key, state in (("successes", "success"), ("failures", "failure"),
                           ("pendings", "pending")):
            for e in status.get(key, []):
                if e["id"] == object_id:
                    return state, e.get("message", "")
        return "pending", ""

    def _answer(self, decision: str) -> None:
        home = self.homes["KOR"]
        store = SqlStore.open(load_node_settings(home).database_url)
        try:
            desk = ConsentDesk(party="KOR", store=ExchangeStore(store.engine),
                               signing_key=load_private_key(home / "signing-key.pem"))
            for request in desk.open_requests():
                stdout.print(f"  KOR analyst sees consent request {request['id']}: "
                             f"{request['holder']} asks to release it to "
                             f"{request['recipient']} -> {decision}")
                desk.approve(request["id"]) if decision == "approve" else desk.deny(
                    request["id"], "not releasable")
        finally:
            store.close()

    def _print_hops(self) -> None:
        """New exchange lines from the nodes' own logs, in time order."""
        lines: list[tuple[str, str, str]] = []
        for code, home in self.homes.items():
            log = home / "serve.log"
            if not log.exists():
                continue
            with log.open("rb") as f:
                f.seek(self.log_offsets.get(code, 0))
                data = f.read()
                self.log_offsets[code] = f.tell()
            for line in data.decode("utf-8", "replace").splitlines():
                if " tisa.exchange INFO " in line and "worker" not in line:
                    stamp, text = line.split(" tisa.exchange INFO ", 1)
                    lines.append((stamp, code, text))
        for _, code, text in sorted(lines):
            stdout.print(f"    [cyan]{code} node[/] {text}")

    def _show_inbox(self, object_id: str) -> None:
        client = httpx.Client(base_url=self.url("JPN"), auth=("officer", self.password),
                              headers={"Accept": TAXII})
        cols = client.get("/api/collections/").json()["collections"]
        inbox = next(c["id"] for c in cols if c["title"] == "inbox")
        objects = client.get(f"/api/collections/{inbox}/objects/").json().get("objects", [])
        by_id = {o["id"]: o for o in objects}
        if object_id not in by_id:
            stdout.print("  JPN inbox: not there")
            return
        ref = by_id[object_id]["object_marking_refs"][0]
        ext = by_id[ref]["extensions"][EXT]
        stdout.print(f"  JPN inbox: {object_id} marked {ext['level']}, originator "
                     f"{ext['originator']} (Art. 4)")


def _item(scene: LiveScene) -> tuple[dict[str, Any], dict[str, Any]]:
    created = f"{scene.day.isoformat()}T09:00:00.000Z"
    marking = {"type": "marking-definition", "spec_version": "2.1",
               "id": f"marking-definition--{uuid.uuid4()}", "created": created,
               "name": f"KOR {scene.level} {scene.topic}",
               "extensions": {EXT: {"extension_type": "property-extension",
                                    "level": scene.level, "originator": "KOR",
                                    "topics": [scene.topic]}}}
    item = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
            "created": created, "modified": created, "name": f"{scene.topic} telemetry relay",
            "indicator_types": ["malicious-activity"], "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '198.51.100.7']", "valid_from": created,
            "object_marking_refs": [marking["id"]]}
    return marking, item


def run_live_demo(scenario: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="tisa-demo-") as tmp:
        demo = LiveDemo(scenario, Path(tmp))
        stdout.print(f"[bold]tisa live demo[/]: three nodes on loopback, homes in {tmp}")
        try:
            for number, scene in enumerate(SCENES, start=1):
                world = "[magenta]what if[/] " if scene.what_if else ""
                stdout.print(f"\n[bold]{number}. {scene.day}[/] {world}{scene.title}")
                demo.start(scene)
                try:
                    demo.play(scene)
                finally:
                    demo.stop()
        finally:
            for process in demo.processes.values():
                process.kill()
        stdout.print("\nall nodes stopped cleanly.")
