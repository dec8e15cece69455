"""Regression tests from the security review of the TAXII server (issue 3), in-process over
``httpx.ASGITransport`` against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TAXII, AsgiClient, auth, make_home
from stix_samples import envelope, indicator, tisa_marking

from tisa.api.app import TaxiiApp
from tisa.api.auth import Authenticator
from tisa.api.server import build_node
from tisa.api.service import TaxiiNode
from tisa.config import load_node_settings
from tisa.store.sql import SqlStore

H = {"Accept": TAXII}
POST_H = {"Accept": TAXII, "Content-Type": TAXII}


class Node:
    def __init__(self, client: AsgiClient, node: TaxiiNode, store: SqlStore) -> None:
        self.client = client
        self.node = node
        self.store = store

    def url(self, title: str) -> str:
        return f"/api/collections/{self.node.by_title(title).id}/objects/"

    def post(self, title: str, *objects: dict[str, Any], user: str = "admin") -> Any:
        r = self.client.post(self.url(title), content=json.dumps(envelope(*objects)).encode(),
                             auth=auth(user), headers=POST_H)
        assert r.status_code == 202, r.text
        return r.json()

    def read(self, title: str, object_id: str, user: str) -> Any:
        return self.client.get(self.url(title) + object_id + "/", auth=auth(user), headers=H)


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    home = make_home(tmp_path / "kor", database_url=database_url)
    settings = load_node_settings(home)
    taxii_node, store = build_node(settings)
    app = TaxiiApp(node=taxii_node, authenticator=Authenticator(store, settings.secret),
                   title="t", max_content_length=64 * 1024).app()
    yield Node(AsgiClient(app), taxii_node, store)
    store.close()


def messages(status: Any, state: str = "failures") -> dict[str, str]:
    return {e["id"]: e.get("message", "") for e in status.get(state, [])}


# -- marking-definitions are immutable ---------------------------------------------------

def test_a_later_version_of_a_stored_marking_definition_is_refused(node: Node) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",), releasable_to=["KOR", "USA"])
    node.post("local", secret)
    forged = json.loads(json.dumps(secret))
    forged["created"] = "2026-12-01T00:00:00.000Z"
    forged["extensions"][next(iter(forged["extensions"]))]["level"] = "UNCLASSIFIED"
    for title in ("local", "to-JPN"):
        status = node.post(title, forged, user="admin")
        assert status["success_count"] == 0 and status["pending_count"] == 0
        assert "immutable" in messages(status)[secret["id"]]
        # Whoever may not see the stored one learns nothing of it, but fails all the same.
        status = node.post(title, forged, user="conf")
        assert status["success_count"] == 0 and status["pending_count"] == 0
    listed = node.client.get(node.url("local"), auth=auth("admin"), headers=H,
                             params={"match[id]": secret["id"], "match[version]": "all"})
    assert [o["created"] for o in listed.json()["objects"]] == [secret["created"]]
    item = indicator(secret["id"], name="top secret item")
    node.post("local", item, user="missile")
    assert node.read("local", item["id"], "conf").status_code == 404
    assert node.read("local", item["id"], "missile").status_code == 200
    share = node.post("to-JPN", indicator(secret["id"]), user="missile")
    assert share["failure_count"] == 1  # still REL TO KOR, USA


def test_an_envelope_copy_differing_from_the_stored_definition_refuses_its_items(
    node: Node,
) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",))
    node.post("local", secret)
    forged = json.loads(json.dumps(secret))
    forged["extensions"][next(iter(forged["extensions"]))]["level"] = "UNCLASSIFIED"
    item = indicator(secret["id"])
    status = node.post("local", forged, item, user="conf")
    found = messages(status)
    assert set(found) == {secret["id"], item["id"]}
    assert "differs from the stored" in found[item["id"]]
    assert node.read("local", item["id"], "admin").status_code == 404


# -- no existence oracle on POST -----------------------------------------------------------

HIDDEN = "an object with this id and version cannot be stored here"


def test_posting_over_an_object_you_cannot_see_says_the_same_whatever_its_content(
    node: Node,
) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",))
    item = indicator(secret["id"], name="top secret")
    node.post("local", secret, item)
    guess_right = node.post("local", item, user="conf")
    wrong = dict(item, name="guess")
    guess_wrong = node.post("local", wrong, user="conf")
    assert messages(guess_right) == messages(guess_wrong) == {item["id"]: HIDDEN}
    # Whoever can see it still gets an identical re-post as a success.
    again = node.post("local", item, user="missile")
    assert again["success_count"] == 1


def test_an_unmarked_sco_colliding_with_a_hidden_one_gets_the_opaque_failure(
    node: Node,
) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",))
    address = {"type": "ipv4-addr", "spec_version": "2.1",
               "id": "ipv4-addr--7e2a1a4e-4a6c-5d0b-9a9f-0d7e8f1b2c3d", "value": "10.6.6.6"}
    node.post("local", secret, dict(address, object_marking_refs=[secret["id"]]))
    probe = node.post("local", address, user="conf")
    assert messages(probe) == {address["id"]: HIDDEN}
    assert "already stored" not in json.dumps(probe)


# -- a flood of bogus logins neither stalls cached users nor queues without bound ----------

def test_bogus_logins_get_503_and_do_not_delay_cached_users(node: Node) -> None:
    import asyncio
    import time

    import httpx

    async def run() -> tuple[float, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=node.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test",
                                     timeout=120) as c:
            assert (await c.get("/api/", auth=auth("analyst"), headers=H)).status_code == 200

            async def cached() -> float:
                await asyncio.sleep(0.05)
                start = time.monotonic()
                r = await c.get("/api/", auth=auth("analyst"), headers=H)
                assert r.status_code == 200
                return time.monotonic() - start

            bogus = [c.get("/api/", auth=("nobody", f"wrong-{i}"), headers=H)
                     for i in range(60)]
            took, *answers = await asyncio.gather(cached(), *bogus)
            return took, answers

    took, answers = asyncio.run(run())
    assert took < 1.0
    codes = {r.status_code for r in answers}
    assert codes <= {401, 503} and 503 in codes
    busy = next(r for r in answers if r.status_code == 503)
    assert int(busy.headers["retry-after"]) >= 1
    assert busy.headers["content-type"] == TAXII
    assert busy.json()["http_status"] == "503"


# -- need to know: no topics never means "inside everyone's topics" ------------------------

def test_items_without_topics_are_visible_only_to_readers_of_all_topics(node: Node) -> None:
    from stix_samples import acs_marking

    from tisa.model.item_marking import ItemMarking

    empty = tisa_marking("SECRET", topics=())
    acs = acs_marking("S")
    no_topics, acs_item = indicator(empty["id"]), indicator(acs["id"])
    status = node.post("local", empty, acs, no_topics, acs_item, user="admin")
    assert status["failure_count"] == 0
    received = indicator(name="received without topics")
    node.node.store_received([received], ItemMarking(level="CONFIDENTIAL", originator="JPN",
                                                     topics=frozenset()), sender="JPN")
    for title, item in (("local", no_topics), ("local", acs_item), ("inbox", received)):
        assert node.read(title, item["id"], "missile").status_code == 404, item["id"]
        assert node.read(title, item["id"], "admin").status_code == 200, item["id"]
    # An empty topics list is not a tisa marking: sharing under it is refused.
    shared = node.post("to-JPN", empty, indicator(empty["id"]), user="admin")
    assert shared["pending_count"] == 0


# -- granular markings count -----------------------------------------------------------------

def test_granular_markings_rank_the_object(node: Node) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",))
    conf = tisa_marking("CONFIDENTIAL", topics=("nk-nuclear",), releasable_to=["KOR", "JPN"])
    node.post("local", secret, conf)
    only_granular = indicator(name="top secret by granular marking")
    only_granular["granular_markings"] = [{"marking_ref": secret["id"],
                                           "selectors": ["name", "pattern"]}]
    mixed = indicator(conf["id"], name="mixed")
    mixed["granular_markings"] = [{"marking_ref": secret["id"], "selectors": ["name"]}]
    unknown = indicator(name="unknown granular marking")
    unknown["granular_markings"] = [{"marking_ref": "marking-definition--"
                                     "6a0f4c43-1b4c-4e4e-9a1a-2a3b4c5d6e7f",
                                     "selectors": ["name"]}]
    assert node.post("local", only_granular, mixed, unknown, user="conf")["success_count"] == 3
    for item in (only_granular, mixed, unknown):
        assert node.read("local", item["id"], "conf").status_code == 404, item["name"]
        assert node.read("local", item["id"], "analyst").status_code == 404, item["name"]
        assert node.read("local", item["id"], "admin").status_code == 200, item["name"]
    # union of topics: nk-missile alone is not enough for the mixed item
    assert node.read("local", only_granular["id"], "missile").status_code == 200
    assert node.read("local", mixed["id"], "missile").status_code == 404
    shared = node.post("to-JPN", indicator(conf["id"]) | {
        "granular_markings": [{"marking_ref": secret["id"], "selectors": ["name"]}]})
    assert shared["pending_count"] == 0


def test_malformed_granular_markings_are_invalid_stix(node: Node) -> None:
    item = indicator(name="bad granular")
    item["granular_markings"] = [{"marking_ref": 7, "selectors": ["name"]}]
    r = node.client.post(node.url("local"), content=json.dumps(envelope(item)).encode(),
                         auth=auth("conf"), headers=POST_H)
    assert r.status_code == 422


# -- deeply nested JSON is a client error, not a crash --------------------------------------

@pytest.mark.parametrize("depth", [5_000, 30_000])
def test_deeply_nested_json_is_a_400_error_resource(node: Node, depth: int) -> None:
    item = json.dumps(indicator(name="deep"))[:-1] + ',"x_deep":' + "[" * depth + "]" * depth
    body = ('{"objects":[' + item + "}]}").encode()
    r = node.client.post(node.url("local"), content=body, auth=auth("conf"), headers=POST_H)
    assert r.status_code in (400, 422)
    assert r.headers["content-type"] == TAXII
    assert "nested" in r.json()["description"]


def test_nesting_within_the_parser_limit_but_over_100_levels_is_refused() -> None:
    from tisa.api.stix_input import InvalidStix, read_object

    deep: Any = []
    for _ in range(900):
        deep = [deep]
    with pytest.raises(InvalidStix, match="nested"):
        read_object(0, indicator(name="deep") | {"x_deep": deep})


# -- a low-cleared admin sees no metadata above their clearance ------------------------------

def test_low_cleared_admin_sees_neither_status_entries_nor_definitions_above_clearance(
    node: Node,
) -> None:
    from tisa.crypto.passwords import hash_password
    from tisa.store.ports import UserRecord

    lowadmin = ("lowadmin", "lowadmin-pw")
    node.store.add_user(UserRecord(name="lowadmin", password_hash=hash_password("lowadmin-pw"),
                                   clearance_rank=1, topics=None, admin=True))
    secret = tisa_marking("SECRET", topics=("nk-missile",))
    low = tisa_marking("CONFIDENTIAL", topics=("nk-missile",))
    hidden, seen = indicator(secret["id"]), indicator(low["id"])
    status = node.post("to-JPN", secret, low, hidden, seen, user="analyst")
    assert status["pending_count"] == 4, status

    def entry_ids(user: str) -> set[str]:
        credentials = lowadmin if user == "lowadmin" else auth(user)
        r = node.client.get(f"/api/status/{status['id']}/", auth=credentials, headers=H)
        assert r.status_code == 200
        body = r.json()
        assert body["total_count"] == sum(
            body[k] for k in ("success_count", "failure_count", "pending_count"))
        return {e["id"] for k in ("successes", "failures", "pendings") for e in body.get(k, [])}

    assert entry_ids("analyst") == entry_ids("admin") == {
        secret["id"], low["id"], hidden["id"], seen["id"]}
    assert entry_ids("lowadmin") == {low["id"], seen["id"]}
    listed = node.client.get(node.url("to-JPN"), auth=lowadmin, headers=H).json()
    assert {o["id"] for o in listed["objects"]} == {low["id"], seen["id"]}
    # A refused object was never stored: its entry (and reason) stays with its poster,
    # even when a readable object happens to hold the same id and version.
    readable = indicator(low["id"], name="confidential share")
    assert node.post("to-JPN", readable, user="conf")["pending_count"] == 1
    refused = node.post("to-JPN", secret, indicator(secret["id"], ident=readable["id"]),
                        user="analyst")
    assert readable["id"] in messages(refused)
    r = node.client.get(f"/api/status/{refused['id']}/", auth=lowadmin, headers=H)
    assert readable["id"] not in r.text
    local = node.post("local", tisa_marking("TOP SECRET", topics=("nk-nuclear",)))
    assert local["success_count"] == 1
    assert node.read("local", local["successes"][0]["id"], "missile").status_code == 404


# -- a marking-definition is routed only with items actually stored --------------------------

def test_a_definition_gets_no_outbox_row_when_its_item_was_refused_at_ingest(
    node: Node,
) -> None:
    secret = tisa_marking("SECRET", topics=("nk-missile",))
    shared = indicator(secret["id"], name="secret share")
    assert node.post("to-JPN", secret, shared, user="analyst")["pending_count"] == 2
    node.node.store.claim_outbox(limit=100)  # drain what was rightly asked for
    low = tisa_marking("CONFIDENTIAL", topics=("nk-missile",))
    collide = indicator(low["id"], ident=shared["id"], name="guess")
    status = node.post("to-JPN", low, collide, user="conf")
    assert messages(status) == {
        collide["id"]: HIDDEN,
        low["id"]: "not stored: none of the objects it travels with was stored"}
    assert node.node.store.claim_outbox(limit=100) == []


def test_405_is_an_error_resource_with_allow(node: Node) -> None:
    r = node.client.request("PUT", node.url("local"), auth=auth("conf"), headers=H)
    assert r.status_code == 405
    assert r.headers["content-type"] == TAXII
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert r.json()["http_status"] == "405"


def test_two_copies_of_one_definition_in_an_envelope_refuse_its_items(node: Node) -> None:
    secret = tisa_marking("TOP SECRET", topics=("nk-missile",))
    open_ = json.loads(json.dumps(secret))
    open_["extensions"][next(iter(open_["extensions"]))]["level"] = "UNCLASSIFIED"
    item = indicator(secret["id"])
    status = node.post("local", secret, open_, item, user="admin")
    assert "differs" in messages(status)[item["id"]]
    assert node.read("local", item["id"], "admin").status_code == 404
