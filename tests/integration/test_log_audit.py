"""``tisa audit`` of a node's own log: exit codes, a rolled-back database, any changed byte."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_home
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from log_fixtures import entry
from typer.testing import CliRunner

from tisa.api.log_node import open_event_log
from tisa.cli.app import app as cli
from tisa.config import load_node_settings

runner = CliRunner()


def fill(home: Path, n: int, *, sign_at: tuple[int, ...] = ()) -> None:
    log = open_event_log(load_node_settings(home))
    try:
        done = 0
        for cut in (*sign_at, n):
            log.record([entry(i) for i in range(done, cut)])
            done = cut
            if cut in sign_at:
                log.sign_checkpoint()
    finally:
        log.close()


def audit(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["audit", str(home), *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = make_home(tmp_path_factory.mktemp("audit") / "kor")
    fill(home, 600, sign_at=(1, 300))
    log = open_event_log(load_node_settings(home))
    log.add_cosignature(300, "tisa.kor/witness", "— tisa.kor/witness AAAA\n")
    with sqlite3.connect(home / "log.db") as db:  # a stray cosignature is a finding: remove it
        db.execute("DELETE FROM log_cosignatures")
    log.close()
    return home


def test_a_sound_log_passes(base_home: Path) -> None:
    code, out = audit(base_home)
    assert code == 0, out
    assert "600 entries, 3 checkpoints" in out  # two stored, one high-water file
    code, out = audit(base_home, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["log"]["entries"] == 600


def test_bad_input_exits_2(base_home: Path, tmp_path: Path) -> None:
    assert audit(tmp_path)[0] == 2  # not a node home
    assert audit(base_home, "--peer", "XYZ")[0] == 2  # unknown peer
    assert audit(base_home, "--peer", "JPN")[0] == 2  # no key / endpoint for it


def test_rolled_back_database_fails_the_audit(tmp_path: Path) -> None:
    home = make_home(tmp_path / "kor")
    fill(home, 10, sign_at=(10,))
    shutil.copy(home / "log.db", tmp_path / "copy.db")
    fill_more = open_event_log(load_node_settings(home))
    fill_more.record([entry(i) for i in range(10, 20)])
    fill_more.sign_checkpoint()
    fill_more.close()
    assert audit(home)[0] == 0
    for suffix in ("-wal", "-shm"):
        (home / f"log.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "copy.db", home / "log.db")
    code, out = audit(home)
    assert code == 1
    assert "rolled back" in out
    # and the node refuses to start serving a log it cannot sign consistently
    serve = subprocess.run([sys.executable, "-m", "tisa", "serve", str(home), "--port", "1"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert serve.returncode == 2
    assert "rolled back" in serve.stderr


_TARGETS = [
    ("log_entries", "data", "idx"),
    ("log_tiles", "hashes", "level * 1000000 + idx"),
    ("log_tiles", "inner", "level * 1000000 + idx"),
    ("log_checkpoints", "note", "size"),
    ("log_checkpoints", "root_hash", "size"),
]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(_TARGETS), row=st.integers(min_value=0, max_value=10**6),
       offset=st.integers(min_value=0, max_value=10**6), flip=st.integers(1, 255))
def test_any_changed_byte_fails_the_audit(
    base_home: Path, tmp_path_factory: pytest.TempPathFactory,
    target: tuple[str, str, str], row: int, offset: int, flip: int,
) -> None:
    home = tmp_path_factory.mktemp("tamper") / "kor"
    shutil.copytree(base_home, home)
    table, column, key = target
    with sqlite3.connect(home / "log.db") as db:
        keys = [k for (k,) in db.execute(f"SELECT {key} FROM {table} ORDER BY 1")]
        chosen = keys[row % len(keys)]
        (value,) = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?",
                              (chosen,)).fetchone()
        data = bytearray(value)
        data[offset % len(data)] ^= flip
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (bytes(data), chosen))
    code, out = audit(home)
    assert code == 1, out
    assert "DISCREPANCY" in out


def test_parsing_in_a_second_process_reports_the_same(tmp_path: Path) -> None:
    from tisa.ledger.log_names import log_verifier
    from tisa.store.log_signing import durable_engine
    from tisa.store.sql_log_reader import SqlLogReader
    from tisa.store.stored_log_audit import audit_stored_log

    home = make_home(tmp_path / "kor")
    fill(home, 300, sign_at=(300,))
    with sqlite3.connect(home / "log.db") as db:
        db.execute("UPDATE log_entries SET data = ? WHERE idx = 7", (b'{"not":"an entry"}',))
    settings = load_node_settings(home)
    engine = durable_engine(settings.log_database_url)
    from tisa.config import node_signing_key

    verifier = log_verifier("KOR", node_signing_key(home).public_key())
    try:
        results = [
            audit_stored_log(SqlLogReader(engine), origin="tisa.kor/log", log_verifier=verifier,
                             database_url=url, parallel_from=0)
            for url in (None, settings.log_database_url)
        ]
    finally:
        engine.dispose()
    inline, parallel = ({(f.kind, f.where) for f in r.findings} for r in results)
    assert inline == parallel
    assert ("malformed-entry", "entry 7") in inline
