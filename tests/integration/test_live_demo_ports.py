"""The live demo's nodes start on fresh ports for every scene, start again on new ports
when one is taken, and say why a node did not start with its log, not a path into a
temporary directory that is gone by the time anyone reads it. (Two whole live demos at
once take over a minute here; these exercise the same port clashes directly.)"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tisa.cli import live_demo
from tisa.cli.live_demo import SCENES, LiveDemo
from tisa.errors import InvalidInput

SCENARIO = Path(__file__).parents[2] / "scenarios" / "korea-japan-2019.toml"


@contextmanager
def taken(port: int | None = None) -> Iterator[int]:
    """A port held by someone else (listening, never answering)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port or 0))
        s.listen()
        yield s.getsockname()[1]


def test_ports_are_fresh_per_scene_and_a_taken_port_is_retried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scene 1: JPN's port is taken between picking and binding (by another demo, say):
    all three start again on new ports. Scene 2: scene 1's USA port has been taken since;
    scene 2 does not care (the demo used to reuse scene 1's ports for every scene and
    fail with 'node USA did not start')."""
    demo = LiveDemo(SCENARIO, tmp_path)
    real_ports = live_demo._ports
    try:
        with taken() as port:
            picks = iter([{**real_ports(), "JPN": port}])
            monkeypatch.setattr(live_demo, "_ports", lambda: next(picks, None) or real_ports())
            demo.start(SCENES[0])
            first = dict(demo.ports)
            assert first["JPN"] != port
            assert all(p.poll() is None for p in demo.processes.values())
            demo.stop()
        with taken(first["USA"]):
            demo.start(SCENES[1])
            assert demo.ports["USA"] != first["USA"]
            for code in ("kor", "usa", "jpn"):  # every node knows USA's new endpoint
                assert f'endpoint = "http://127.0.0.1:{demo.ports["USA"]}"' in (
                    tmp_path / code / "network.toml").read_text()
            demo.stop()
    finally:
        demo._halt()


def test_a_node_that_never_starts_is_reported_with_its_log(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    demo = LiveDemo(SCENARIO, tmp_path)
    real_ports = live_demo._ports
    with taken() as port:
        monkeypatch.setattr(live_demo, "_ports", lambda: {**real_ports(), "JPN": port})
        try:
            with pytest.raises(InvalidInput) as raised:
                demo.start(SCENES[0], attempts=1)
            assert demo.processes == {}  # start stopped what did come up
        finally:
            demo._halt()
    message = str(raised.value)
    assert f"node JPN did not start on port {port} (attempt 1 of 1)" in message, message
    assert "address already in use" in message, message  # the node's own log says why
    assert str(tmp_path) not in message  # no path into the (temporary) home
