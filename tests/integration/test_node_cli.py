"""The node commands' contract through the real ``tisa`` entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import NETWORK


def tisa(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tisa", *args], capture_output=True,
                          text=True, input=stdin, timeout=120, check=False)


def test_node_init_and_key(tmp_path: Path) -> None:
    home = tmp_path / "kor"
    done = tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    assert done.returncode == 0, done.stderr
    assert "party: KOR" in done.stdout
    key = re.search(r"ed25519:[A-Za-z0-9+/=]{44}", done.stdout)
    assert key is not None
    assert (home / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert (home / "node-secret").stat().st_mode & 0o777 == 0o600
    assert (home / "tisa.db").stat().st_mode & 0o777 == 0o600
    shown = tisa("node", "key", str(home))
    assert shown.stdout.strip() == key.group(0)
    again = tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    assert again.returncode == 2
    assert "already a node home" in again.stderr


def test_user_add(tmp_path: Path) -> None:
    home = tmp_path / "kor"
    tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    ok = tisa("user", "add", str(home), "kim", "--clearance", "군사Ⅱ급비밀", "--topic",
              "nk-missile", "--password-stdin", stdin="s3cret-pass\n")
    assert ok.returncode == 0, ok.stderr
    assert "clearance SECRET" in ok.stdout
    assert "s3cret-pass" not in ok.stdout + ok.stderr
    for args, message in (
        (("kim", "--clearance", "SECRET", "--password-stdin"), "already exists"),
        (("lee", "--clearance", "極秘", "--password-stdin"), "unknown level"),
        (("lee", "--clearance", "SECRET"), "--password-stdin"),
    ):
        bad = tisa("user", "add", str(home), *args, stdin="pw\n")
        assert bad.returncode == 2, args
        assert message in bad.stderr
        assert "Traceback" not in bad.stderr
    empty = tisa("user", "add", str(home), "lee", "--clearance", "SECRET", "--password-stdin")
    assert empty.returncode == 2
    assert "empty" in empty.stderr


def test_bad_input_is_a_message_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (("node", "init", str(tmp_path / "x"), "--party", "XYZ", "--network", str(NETWORK)),
         "XYZ"),
        (("node", "init", str(tmp_path / "y"), "--party", "KOR", "--network",
          str(tmp_path / "missing.toml")), "not found"),
        (("node", "key", str(tmp_path / "nowhere")), "not a node home"),
        (("serve", str(tmp_path / "nowhere")), "not a node home"),
    ]
    for args, message in cases:
        done = tisa(*args)
        assert done.returncode == 2, args
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_serve_refuses_an_unreachable_database_without_leaking_the_password(
    tmp_path: Path,
) -> None:
    home = tmp_path / "kor"
    tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    done = tisa("serve", str(home), "--database-url",
                "postgresql://tisa:hunter2-secret@127.0.0.1:1/tisa")
    assert done.returncode == 2
    assert "cannot open the database" in done.stderr
    assert "hunter2-secret" not in done.stderr
    assert "Traceback" not in done.stderr
    tls = tisa("serve", str(home), "--tls-cert", str(tmp_path / "cert.pem"))
    assert tls.returncode == 2
    assert "--tls-key" in tls.stderr


def test_serve_and_user_add_refuse_bad_files_and_urls_without_a_traceback(
    tmp_path: Path,
) -> None:
    home = tmp_path / "kor"
    tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    tls = tisa("serve", str(home), "--port", "1", "--tls-cert", str(junk), "--tls-key", str(junk))
    assert tls.returncode == 2
    assert "TLS" in tls.stderr and "Traceback" not in tls.stderr
    bad_port = "postgresql://u:hunter2-secret@127.0.0.1:99x/db"
    for args in (("serve", str(home), "--database-url", bad_port),
                 ("user", "add", str(home), "kim", "--clearance", "SECRET",
                  "--password-stdin", "--database-url", bad_port)):
        done = tisa(*args, stdin="pw\n")
        assert done.returncode == 2, done.stderr
        assert "port" in done.stderr and "Traceback" not in done.stderr
        assert "hunter2" not in done.stdout + done.stderr


def test_user_add_refuses_a_non_utf8_password_and_bad_topics(tmp_path: Path) -> None:
    home = tmp_path / "kor"
    tisa("node", "init", str(home), "--party", "KOR", "--network", str(NETWORK))
    raw = subprocess.run([sys.executable, "-m", "tisa", "user", "add", str(home), "kim",
                          "--clearance", "SECRET", "--password-stdin"],
                         capture_output=True, input=b"caf\xe9-pw\n", timeout=120, check=False)
    assert raw.returncode == 2
    assert b"UTF-8" in raw.stderr and b"Traceback" not in raw.stderr
    for topic, message in (("*", "no --topic"), ("NK Missile", "topic")):
        done = tisa("user", "add", str(home), "lee", "--clearance", "SECRET", "--topic", topic,
                    "--password-stdin", stdin="pw\n")
        assert done.returncode == 2, topic
        assert message in done.stderr and "Traceback" not in done.stderr
