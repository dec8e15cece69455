"""``tisa consent list|deny`` through the real command line (``python -m tisa``), on the
home of an originator node (KOR) whose hub (USA) asked for consent; the running nodes
are the in-process cluster, sharing the node homes and databases with the command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from exchange_cluster import Cluster
from stix_samples import indicator, tisa_marking

from tisa.ledger.entries import parse_entry
from tisa.store.sql_event_log import SqlEventLog

ALL = ("KOR", "USA", "JPN")


def tisa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tisa", *args], capture_output=True,
                          text=True, timeout=120)


def awaiting_consent(tmp: Path) -> tuple[Cluster, str, dict[str, Any]]:
    """KOR shared an item to JPN on a relay-only day: USA holds it and asked KOR."""
    c = Cluster(tmp, ALL, as_of={code: date(2015, 6, 1) for code in ALL})
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    item = indicator(marking["id"])

    async def go() -> dict[str, Any]:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        return status

    status = c.run(go())
    return c, item["id"], status


def log_entries(c: Cluster, code: str) -> list[Any]:
    log = c[code].exchange.events
    assert isinstance(log, SqlEventLog)
    return [parse_entry(data) for _, data in log.reader.entries()]


def test_consent_list_prints_each_request_readably(tmp_path: Path) -> None:
    c, item_id, _ = awaiting_consent(tmp_path)
    home = str(c["KOR"].home)
    listed = tisa("consent", "list", home, "--json")
    assert listed.returncode == 0, listed.stderr
    [request] = json.loads(listed.stdout)

    done = tisa("consent", "list", home)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    with_json = False
    try:
        json.loads(done.stdout)
        with_json = True
    except ValueError:
        pass
    assert not with_json  # the text form is for people, not a JSON dump
    for field in ("id", "item", "requested_at", "expires_at"):
        assert str(request[field]) in line, (field, line)
    assert item_id in line
    assert "KOR -> USA -> JPN" in line  # originator, holder (the hub), recipient
    assert "requested " in line and "expires " in line

    # Nothing open on the hub (it asks, it is not asked).
    empty = tisa("consent", "list", str(c["USA"].home))
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "no open consent requests"


def test_consent_deny_with_reason_reaches_the_hub_and_the_status(tmp_path: Path) -> None:
    c, item_id, status = awaiting_consent(tmp_path)
    home = str(c["KOR"].home)
    [request] = json.loads(tisa("consent", "list", home, "--json").stdout)

    done = tisa("consent", "deny", home, request["id"], "--reason", "source protection")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"denied {request['id']}"
    assert json.loads(tisa("consent", "list", home, "--json").stdout) == []

    async def go() -> dict[str, Any]:
        await c.settle()  # KOR's running node sends the signed denial to USA
        result: dict[str, Any] = await c.status("KOR", status["id"])
        return result

    final = c.run(go())
    assert final["failure_count"] == 2, final
    failures = " | ".join(f["message"] for f in final["failures"])
    assert "denied consent" in failures and "source protection" in failures, failures
    # The hub verified the signed denial, dropped the item and logged KOR's reason.
    [held] = c["USA"].exchange.store.held_in_state("dropped")
    assert held["item_id"] == item_id
    denied = [e for e in log_entries(c, "USA") if e.kind == "consent-denied"]
    assert [e.item_id for e in denied] == [item_id]
    assert denied[0].reason == "KOR denied consent: source protection"
    assert c.run(c.inbox("JPN")) == []

    # Answered once: a second answer is refused with a clear error, exit code 2.
    again = tisa("consent", "approve", home, request["id"])
    assert again.returncode == 2 and "already denied" in again.stderr, again.stderr
    unknown = tisa("consent", "deny", home, "no-such-request")
    assert unknown.returncode == 2 and "no consent request no-such-request" in unknown.stderr
