"""The exchange's commands: node key --seal, node network, the live demo (make demo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import NETWORK, make_home

from tisa.cli.live_demo import GSOMIA, SUSPENSION, what_if_text
from tisa.config import load_network
from tisa.crypto.sealing import parse_seal_public_key

SCENARIO = Path(__file__).parents[2] / "scenarios" / "korea-japan-2019.toml"


def tisa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tisa", *args], capture_output=True,
                          text=True, timeout=300)


def test_seal_key_is_created_0600_and_printed(tmp_path: Path) -> None:
    home = make_home(tmp_path / "kor")
    assert (home / "seal-key.pem").stat().st_mode & 0o777 == 0o600
    done = tisa("node", "key", str(home), "--seal")
    assert done.returncode == 0 and done.stdout.startswith("x25519:")
    parse_seal_public_key(done.stdout.strip())


def test_node_network_validates_then_replaces(tmp_path: Path) -> None:
    home = make_home(tmp_path / "kor")
    bad = tmp_path / "bad.toml"
    bad.write_text(NETWORK.read_text().replace('[parties.KOR]', '[parties.XX]'))
    done = tisa("node", "network", str(home), str(bad))
    assert done.returncode == 2
    assert (home / "network.toml").read_text() == NETWORK.read_text()
    good = tmp_path / "good.toml"
    good.write_text(NETWORK.read_text().replace(
        '[parties.JPN]\n', '[parties.JPN]\nendpoint = "http://127.0.0.1:8102"\n'))
    done = tisa("node", "network", str(home), str(good))
    assert done.returncode == 0, done.stderr
    assert 'endpoint = "http://127.0.0.1:8102"' in (home / "network.toml").read_text()


def test_what_if_copy_drops_the_events_from_the_suspension_on(tmp_path: Path) -> None:
    copy = tmp_path / "what-if.toml"
    copy.write_text(what_if_text(SCENARIO.read_text()))
    events = load_network(copy).agreements[GSOMIA].events
    assert [e.on.isoformat() for e in events] == ["2019-08-23"]
    assert all(e.on < SUSPENSION for e in events)


def test_live_demo_replays_the_story_with_three_nodes() -> None:
    done = tisa("demo", "--live", str(SCENARIO))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("success: delivered to JPN") == 4  # 2017, 2019-09, relay, 2023
    assert "USA relays" in out and "approve" in out
    assert "tisa: topic(s) cyber outside its scope" in out
    assert out.count("marked 極秘, originator KOR") == 4
    assert "exit codes [0, 0, 0]" in out and "all nodes stopped cleanly" in out
