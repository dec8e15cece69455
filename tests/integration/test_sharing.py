"""Posting to ``to-<PARTY>``: the route for the day, reported honestly, and the outbox row
the exchange layer will drain. Runs on the bundled Korea–Japan 2019 scenario."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import TAXII, USERS, AsgiClient, auth, taxii_json
from stix_samples import acs_marking, envelope, indicator, tisa_marking

from tisa.api.app import TaxiiApp
from tisa.api.auth import Authenticator
from tisa.api.service import TaxiiNode
from tisa.api.sharing import load_node_network
from tisa.crypto.passwords import hash_password
from tisa.model.levels import REFERENCE_LEVELS
from tisa.store.ports import UserRecord
from tisa.store.sql import SqlStore

SCENARIO = Path(__file__).parents[2] / "scenarios" / "korea-japan-2019.toml"
SECRET = b"s" * 32


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    s = SqlStore.open(f"sqlite:///{tmp_path_factory.mktemp('share') / 'tisa.db'}")
    for name in ("admin", "analyst"):
        password, clearance, topics, admin = USERS[name]
        s.add_user(UserRecord(name=name, password_hash=hash_password(password),
                              clearance_rank=REFERENCE_LEVELS.index(clearance),
                              topics=None if topics is None else frozenset(topics),
                              admin=admin))
    yield s
    s.close()


@pytest.fixture
def on(store: SqlStore) -> Callable[[date], tuple[AsgiClient, TaxiiNode]]:
    def build(day: date) -> tuple[AsgiClient, TaxiiNode]:
        node = TaxiiNode(party="KOR", network=load_node_network(SCENARIO, "KOR"), store=store,
                         secret=SECRET, today=lambda: day)
        node.start()
        app = TaxiiApp(node=node, authenticator=Authenticator(store, SECRET), title="KOR",
                       max_content_length=1 << 20).app()
        return AsgiClient(app), node
    return build


def post(client: AsgiClient, node: TaxiiNode, to: str, *objects: dict[str, Any],
         user: str = "analyst") -> dict[str, Any]:
    r = client.post(f"/api/collections/{node.by_title(to).id}/objects/",
                    content=json.dumps(envelope(*objects)), auth=auth(user),
                    headers={"Accept": TAXII, "Content-Type": TAXII})
    assert r.status_code == 202, r.text
    status: dict[str, Any] = taxii_json(r)
    return status


def item_state(status: dict[str, Any], object_id: str) -> tuple[str, str]:
    for state in ("successes", "failures", "pendings"):
        for detail in status.get(state, []):
            if detail["id"] == object_id:
                return state, detail.get("message", "")
    raise AssertionError(f"{object_id} not in status")


def test_direct_share_is_pending_with_an_outbox_row(on: Any, store: SqlStore) -> None:
    client, node = on(date(2017, 5, 14))
    m = tisa_marking("군사Ⅱ급비밀", "KOR", ("nk-missile",))
    item = indicator(m["id"])
    status = post(client, node, "to-JPN", m, item)
    assert status["status"] == "pending"
    assert status["success_count"] == 0
    state, message = item_state(status, item["id"])
    assert state == "pendings"
    assert "direct route KOR -> JPN under kor-jpn-gsomia" in message
    assert item_state(status, m["id"])[0] == "pendings"
    claimed = [c for c in store.claim_outbox(limit=100, recipient="JPN")
               if c.object_id == item["id"]]
    assert len(claimed) == 1
    route = json.loads(claimed[0].route)
    assert route["decision"] == "direct"
    assert route["marking"] == {"level": "極秘", "originator": "KOR"}
    # the release register: admins read it, analysts may not
    url = f"/api/collections/{node.by_title('to-JPN').id}/objects/"
    listed = taxii_json(client.get(url, auth=auth("admin"), headers={"Accept": TAXII}))
    assert item["id"] in {o["id"] for o in listed["objects"]}
    assert client.get(url, auth=auth("analyst"), headers={"Accept": TAXII}).status_code == 403
    store.finish_outbox(claimed[0].id, state="success", message="delivered to JPN")
    done = taxii_json(client.get(f"/api/status/{status['id']}/", auth=auth("analyst"),
                                 headers={"Accept": TAXII}))
    assert item_state(done, item["id"]) == ("successes", "delivered to JPN")


def test_relay_before_the_gsomia_needs_consent(on: Any) -> None:
    client, node = on(date(2016, 1, 10))
    m = tisa_marking("SECRET", "KOR", ("nk-missile",))
    item = indicator(m["id"])
    state, message = item_state(post(client, node, "to-JPN", m, item), item["id"])
    assert state == "pendings"
    assert "relay route KOR -> USA -> JPN" in message
    assert "consent from KOR" in message


@pytest.mark.parametrize(("marking", "reason"), [
    (lambda: tisa_marking("TOP SECRET", "KOR", ("nk-missile",)), "TOP SECRET"),
    (lambda: tisa_marking("SECRET", "KOR", ("nk-missile",), releasable_to=["USA"]),
     "not releasable to JPN"),
    (lambda: acs_marking("S", "KOR.MND"), "topic"),
])
def test_denied_shares_fail_with_the_reason(on: Any, store: SqlStore, marking: Any,
                                            reason: str) -> None:
    client, node = on(date(2017, 5, 14))
    m = marking()
    item = indicator(m["id"])
    status = post(client, node, "to-JPN", m, item)
    state, message = item_state(status, item["id"])
    assert state == "failures"
    assert reason in message
    assert status["status"] == "complete"
    assert all(c.object_id != item["id"] for c in store.claim_outbox(limit=1000))


def test_marking_posted_earlier_to_local_is_found(on: Any) -> None:
    client, node = on(date(2017, 5, 14))
    m = tisa_marking("SECRET", "KOR", ("nk-nuclear",))
    post(client, node, "local", m)
    item = indicator(m["id"])
    assert item_state(post(client, node, "to-USA", item), item["id"])[0] == "pendings"


def test_reposting_a_share_reports_its_state_and_queues_nothing_new(on: Any,
                                                                     store: SqlStore) -> None:
    client, node = on(date(2017, 5, 14))
    m = tisa_marking("SECRET", "KOR", ("nk-missile",))
    item = indicator(m["id"])
    post(client, node, "to-JPN", m, item)
    again = post(client, node, "to-JPN", m, item)
    assert item_state(again, item["id"])[0] == "pendings"
    rows = [c for c in store.claim_outbox(limit=1000) if c.object_id == item["id"]]
    assert len(rows) == 1
