"""``tisa node network DIR FILE`` and ``tisa network check FILE`` refuse keys that cannot
be right: this node's own entry with another node's key (peers would refuse all its
signatures), and two parties sharing one key (either could sign as the other)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import NETWORK, make_home

from tisa.config import node_public_key, node_seal_public_key


def tisa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tisa", *args], capture_output=True,
                          text=True, timeout=120)


def key_of(home: Path, *flags: str) -> str:
    """What ``tisa node key DIR [--seal]`` prints."""
    return node_seal_public_key(home) if "--seal" in flags else node_public_key(home)


def with_keys(path: Path, keys: dict[str, dict[str, str]]) -> Path:
    """The test network with ``public_key``/``seal_key`` lines per party."""
    text = NETWORK.read_text()
    for code, fields in keys.items():
        lines = "".join(f'{name} = "{value}"\n' for name, value in fields.items())
        text = re.sub(rf"(\[parties\.{code}\]\n)", lambda m, s=lines: m.group(1) + s, text)
    path.write_text(text)
    return path


def one_line(stderr: str) -> str:
    return " ".join(stderr.split())  # rich wraps long lines


def test_own_entry_with_another_nodes_key_is_refused(tmp_path: Path) -> None:
    kor, jpn = make_home(tmp_path / "kor", party="KOR"), make_home(tmp_path / "jpn", party="JPN")
    before = (kor / "network.toml").read_text()
    wrong = with_keys(tmp_path / "wrong.toml", {"KOR": {"public_key": key_of(jpn)},
                                                "JPN": {"public_key": key_of(kor)}})
    done = tisa("node", "network", str(kor), str(wrong))
    assert done.returncode == 2, done
    err = one_line(done.stderr)
    assert f"{wrong}: 1 problem(s)" in err, err  # where
    assert "party KOR: public_key:" in err and "is not this node's key" in err, err  # what
    assert f"tisa node key {kor}" in err, err  # how to fix
    assert (kor / "network.toml").read_text() == before  # nothing replaced

    right = with_keys(tmp_path / "right.toml", {"KOR": {"public_key": key_of(kor)},
                                                "JPN": {"public_key": key_of(jpn)}})
    done = tisa("node", "network", str(kor), str(right))
    assert done.returncode == 0, done.stderr
    assert key_of(kor) in (kor / "network.toml").read_text()


def test_own_entry_with_another_nodes_seal_key_is_refused(tmp_path: Path) -> None:
    kor, jpn = make_home(tmp_path / "kor", party="KOR"), make_home(tmp_path / "jpn", party="JPN")
    wrong = with_keys(tmp_path / "wrong.toml", {
        "KOR": {"public_key": key_of(kor), "seal_key": key_of(jpn, "--seal")}})
    done = tisa("node", "network", str(kor), str(wrong))
    assert done.returncode == 2, done
    err = one_line(done.stderr)
    assert "party KOR: seal_key:" in err and "is not this node's sealing key" in err, err
    assert f"tisa node key {kor} --seal" in err, err

    right = with_keys(tmp_path / "right.toml", {
        "KOR": {"public_key": key_of(kor), "seal_key": key_of(kor, "--seal")}})
    assert tisa("node", "network", str(kor), str(right)).returncode == 0


def test_two_parties_with_one_key_are_refused_by_check_and_node_network(tmp_path: Path
                                                                       ) -> None:
    kor, jpn = make_home(tmp_path / "kor", party="KOR"), make_home(tmp_path / "jpn", party="JPN")
    before = (kor / "network.toml").read_text()
    shared = with_keys(tmp_path / "shared.toml", {
        "KOR": {"public_key": key_of(kor)},
        "JPN": {"public_key": key_of(jpn), "seal_key": key_of(jpn, "--seal")},
        "USA": {"public_key": key_of(jpn), "seal_key": key_of(jpn, "--seal")}})
    for args in (("network", "check", str(shared)), ("node", "network", str(kor), str(shared))):
        done = tisa(*args)
        assert done.returncode == 2, (args, done)
        err = one_line(done.stderr)
        assert f"{shared}: 2 problem(s)" in err, err
        assert "party USA: public_key: the same key as party JPN's public_key" in err, err
        assert "party USA: seal_key: the same key as party JPN's seal_key" in err, err
        assert "'tisa node key DIR' on USA's node" in err, err
    assert (kor / "network.toml").read_text() == before
    distinct = with_keys(tmp_path / "distinct.toml", {"KOR": {"public_key": key_of(kor)},
                                                      "JPN": {"public_key": key_of(jpn)}})
    assert tisa("network", "check", str(distinct)).returncode == 0
