"""The TAXII API in-process (httpx over ASGITransport): rules and error paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TAXII, AsgiClient, assert_valid_stix, auth, make_home, taxii_json
from stix_samples import acs_marking, envelope, indicator, tisa_marking

from tisa.api.app import TaxiiApp
from tisa.api.auth import Authenticator
from tisa.api.server import build_node
from tisa.api.service import TaxiiNode
from tisa.config import load_node_settings
from tisa.model.item_marking import TISA_MARKING_EXTENSION, ItemMarking
from tisa.store.sql import SqlStore

H = {"Accept": TAXII}
POST_H = {"Accept": TAXII, "Content-Type": TAXII}


class Node:
    def __init__(self, client: AsgiClient, node: TaxiiNode, store: SqlStore) -> None:
        self.client = client
        self.node = node
        self.store = store

    def cid(self, title: str) -> str:
        return self.node.by_title(title).id

    def objects_url(self, title: str) -> str:
        return f"/api/collections/{self.cid(title)}/objects/"

    def get(self, url: str, user: str = "admin", **kw: Any) -> Any:
        return self.client.get(url, auth=auth(user), headers=kw.pop("headers", H), **kw)

    def post(self, title: str, body: Any, user: str = "admin", **kw: Any) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(self.objects_url(title), content=data, auth=auth(user),
                                headers=kw.pop("headers", POST_H), **kw)

    def ids(self, title: str, user: str, **params: str) -> list[str]:
        r = self.get(self.objects_url(title), user, params=params)
        assert r.status_code == 200, r.text
        body = taxii_json(r)
        assert_valid_stix(body.get("objects", []))
        return [o["id"] for o in body.get("objects", [])]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home = make_home(Path(tmp_path_factory.mktemp("node")) / "kor")
    settings = load_node_settings(home)
    taxii_node, store = build_node(settings)
    app = TaxiiApp(node=taxii_node, authenticator=Authenticator(store, settings.secret),
                   title="t", max_content_length=64 * 1024).app()
    yield Node(AsgiClient(app, base_url="http://node.test"), taxii_node, store)
    store.close()


def receive(node: Node, level: str, topics: tuple[str, ...], sender: str = "JPN") -> str:
    obj = indicator(name=f"{level} from {sender}")
    node.node.store_received([obj], ItemMarking(level=level, originator=sender,
                                                topics=frozenset(topics)), sender=sender)
    return str(obj["id"])


def test_discovery_root_and_collections(node: Node) -> None:
    r = node.get("/taxii2/")
    assert r.status_code == 200
    assert r.headers["content-type"] == TAXII
    assert taxii_json(r)["api_roots"] == ["http://node.test/api/"]
    root = taxii_json(node.get("/api/"))
    assert root["versions"] == [TAXII]
    titles = {c["title"]: c for c in taxii_json(node.get("/api/collections/"))["collections"]}
    assert set(titles) == {"local", "inbox", "to-JPN", "to-USA"}
    assert (titles["inbox"]["can_read"], titles["inbox"]["can_write"]) == (True, False)
    analyst = {c["title"]: c for c in
               taxii_json(node.get("/api/collections/", "analyst"))["collections"]}
    assert (analyst["to-JPN"]["can_read"], analyst["to-JPN"]["can_write"]) == (False, True)


def test_local_serves_the_tisa_extension_definition(node: Node) -> None:
    assert TISA_MARKING_EXTENSION in node.ids("local", "conf",
                                              **{"match[type]": "extension-definition"})


def test_accept_with_or_without_version_and_406_otherwise(node: Node) -> None:
    url = "/api/collections/"
    for accept in ("application/taxii+json", TAXII, "application/taxii+json; version=2.1",
                   "*/*"):
        assert node.get(url, headers={"Accept": accept}).status_code == 200
    for accept in ("application/json", "application/taxii+json;version=2.0", "text/html"):
        r = node.get(url, headers={"Accept": accept})
        assert r.status_code == 406
        assert taxii_json(r)["http_status"] == "406"


def test_401_carries_www_authenticate_and_an_error_resource(node: Node) -> None:
    for credentials in (None, ("admin", "wrong"), ("nobody", "x")):
        r = node.client.get("/api/collections/", headers=H, auth=credentials)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic realm=")
        body = taxii_json(r)
        assert body["http_status"] == "401"
        assert body["title"]


def test_post_local_then_get_by_id_versions_and_manifest(node: Node) -> None:
    first = indicator()
    second = dict(first, modified="2026-11-02T00:00:00.000Z", name="updated")
    r = node.post("local", envelope(first), user="analyst")
    assert r.status_code == 202
    status = taxii_json(r)
    assert (status["status"], status["success_count"], status["total_count"]) == (
        "complete", 1, 1)
    assert taxii_json(node.post("local", envelope(first, second)))["success_count"] == 2
    url = node.objects_url("local") + first["id"] + "/"
    got = taxii_json(node.get(url, "conf"))
    assert [o["modified"] for o in got["objects"]] == ["2026-11-02T00:00:00.000Z"]
    everything = taxii_json(node.get(url, "conf", params={"match[version]": "all"}))
    assert len(everything["objects"]) == 2
    r = node.get(url + "versions/", "conf")
    assert taxii_json(r)["versions"] == [first["modified"], second["modified"]]
    assert r.headers["x-taxii-date-added-first"].endswith("Z")
    manifest = taxii_json(node.get(f"/api/collections/{node.cid('local')}/manifest/", "conf",
                                   params={"match[id]": first["id"]}))
    assert [m["version"] for m in manifest["objects"]] == [second["modified"]]
    assert manifest["objects"][0]["media_type"] == "application/stix+json;version=2.1"
    status_url = f"/api/status/{status['id']}/"
    assert taxii_json(node.get(status_url, "analyst"))["id"] == status["id"]
    assert node.get(status_url, "conf").status_code == 404  # someone else's status


def test_pagination_next_is_bound_and_tamper_proof(node: Node) -> None:
    marker = f"page-{id(node)}"
    objs = [indicator(name=marker) for _ in range(5)]
    node.post("local", envelope(*objs))
    url = node.objects_url("local")
    ids = {o["id"] for o in objs}
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2", "match[id]": ",".join(sorted(ids))}
    while True:
        r = node.get(url, params=params)
        body = taxii_json(r)
        seen += [o["id"] for o in body.get("objects", [])]
        if not body["more"]:
            assert "next" not in body
            break
        assert body["next"]
        params = {**params, "next": body["next"]}
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)
    first = taxii_json(node.get(url, params={"limit": "2"}))
    token = first["next"]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "garbage", token):
        q = {"limit": "2", "next": bad}
        if bad is token:
            q["match[type]"] = "malware"  # replayed against another query
        r = node.get(url, params=q)
        assert r.status_code == 400, bad
        assert taxii_json(r)["http_status"] == "400"


@pytest.mark.parametrize("params", [{"match[colour]": "red"}, {"sort": "x"},
                                    {"added_after": "yesterday"}, {"limit": "0"},
                                    {"limit": "many"}, {"match[version]": "2026-13-01T00:00:00Z"}])
def test_unknown_filters_and_bad_values_are_400(node: Node, params: dict[str, str]) -> None:
    r = node.get(node.objects_url("local"), params=params)
    assert r.status_code == 400
    assert taxii_json(r)["description"]


def test_added_after_filters(node: Node) -> None:
    a, b = indicator(), indicator()
    node.post("local", envelope(a))
    node.post("local", envelope(b))
    r = node.get(node.objects_url("local"), params={"match[id]": f"{a['id']},{b['id']}"})
    first_added = r.headers["x-taxii-date-added-first"]
    assert node.ids("local", "admin", added_after=first_added,
                    **{"match[id]": f"{a['id']},{b['id']}"}) == [b["id"]]


def test_415_413_422_and_400_on_bad_bodies(node: Node) -> None:
    good = envelope(indicator())
    r = node.post("local", good, headers={"Accept": TAXII, "Content-Type": "application/json"})
    assert r.status_code == 415
    r = node.post("local", b'{"objects": [' + b" " * 70_000 + b"]}")
    assert r.status_code == 413
    assert taxii_json(r)["http_status"] == "413"
    assert node.post("local", b"{not json").status_code == 400
    bad_objects: list[Any] = [
        {"objects": []}, {"objects": "x"}, [1, 2],
        envelope({"type": "indicator", "id": "indicator--nope"}),
        envelope(dict(indicator(), spec_version="2.0")),
        envelope({k: v for k, v in indicator().items() if k != "created"}),
        envelope(dict(indicator(), modified="2020-01-01T00:00:00Z")),
        envelope(indicator(), dict(indicator(), created="not a time")),
    ]
    for body in bad_objects:
        r = node.post("local", body)
        assert r.status_code == 422, body
        assert taxii_json(r)["http_status"] == "422"
    # nothing from a rejected envelope was stored
    kept = indicator()
    node.post("local", envelope(kept, dict(indicator(), id="indicator--bad")))
    assert node.get(node.objects_url("local") + kept["id"] + "/").status_code == 404


def test_identical_repost_succeeds_and_a_changed_one_fails(node: Node) -> None:
    obj = indicator()
    node.post("local", envelope(obj))
    assert taxii_json(node.post("local", envelope(obj)))["success_count"] == 1
    changed = dict(obj, name="something else")
    status = taxii_json(node.post("local", envelope(changed)))
    assert status["failure_count"] == 1
    assert "different object" in status["failures"][0]["message"]


def test_inbox_is_filtered_by_clearance_and_topics(node: Node) -> None:
    secret = receive(node, "SECRET", ("nk-missile",))
    nuclear = receive(node, "CONFIDENTIAL", ("nk-nuclear",))
    top = receive(node, "TOP SECRET", ("nk-missile",))
    seen = {u: set(node.ids("inbox", u)) for u in ("admin", "analyst", "conf", "missile")}
    assert {secret, nuclear, top} <= seen["admin"]
    assert {secret, nuclear} <= seen["analyst"]
    assert top not in seen["analyst"]
    assert nuclear in seen["conf"]
    assert not {secret, top} & seen["conf"]
    assert {secret, top} <= seen["missile"]
    assert nuclear not in seen["missile"]
    base = node.objects_url("inbox")
    manifest_url = f"/api/collections/{node.cid('inbox')}/manifest/"
    conf_manifest = taxii_json(node.get(manifest_url, "conf")).get("objects", [])
    assert secret not in {m["id"] for m in conf_manifest}
    for user, hidden in (("conf", secret), ("missile", nuclear), ("analyst", top)):
        for suffix in ("", "versions/"):
            r = node.get(base + hidden + "/" + suffix, user)
            assert r.status_code == 404, (user, suffix)
            assert taxii_json(r)["http_status"] == "404"


def test_can_read_can_write_tables(node: Node) -> None:
    received = receive(node, "UNCLASSIFIED", ())
    inbox_obj = node.objects_url("inbox") + received + "/"
    # inbox: can_read, not can_write
    assert node.post("inbox", envelope(indicator())).status_code == 403
    assert node.client.delete(inbox_obj, auth=auth("admin"), headers=H).status_code == 403
    # to-JPN for an analyst: can_write, not can_read
    assert node.get(node.objects_url("to-JPN"), "analyst").status_code == 403
    share_obj = node.objects_url("to-JPN") + received + "/"
    assert node.client.delete(share_obj, auth=auth("analyst"), headers=H).status_code == 403
    # unknown collection: neither
    ghost = "/api/collections/6f0b8d7e-0000-4000-8000-000000000000/objects/"
    assert node.client.delete(ghost + received + "/", auth=auth("admin"),
                              headers=H).status_code == 404
    assert node.get(ghost).status_code == 404


def test_delete_in_local(node: Node) -> None:
    obj = indicator()
    node.post("local", envelope(obj))
    url = node.objects_url("local") + obj["id"] + "/"
    r = node.client.delete(url, auth=auth("analyst"), headers=H)
    assert r.status_code == 200
    assert r.headers["content-type"] == TAXII
    assert node.get(url).status_code == 404
    assert node.client.delete(url, auth=auth("analyst"), headers=H).status_code == 404


def test_local_objects_take_the_level_of_their_marking(node: Node) -> None:
    secret = tisa_marking("SECRET")
    marked = indicator(secret["id"])
    broken_ref = indicator("marking-definition--00000000-0000-4000-8000-000000000000")
    acs_ts = acs_marking("TS")
    top = indicator(acs_ts["id"])
    node.post("local", envelope(secret, marked, broken_ref, acs_ts, top), user="analyst")
    conf_sees = set(node.ids("local", "conf"))
    # A marking-definition is as classified as the level it names.
    assert not {secret["id"], marked["id"], broken_ref["id"], top["id"]} & conf_sees
    analyst_sees = set(node.ids("local", "analyst"))
    assert {secret["id"], marked["id"]} <= analyst_sees
    assert broken_ref["id"] not in analyst_sees  # unknown marking: held at TOP SECRET
    assert top["id"] not in analyst_sees


def share(node: Node, *objects: dict[str, Any], to: str = "to-JPN") -> dict[str, Any]:
    r = node.post(to, envelope(*objects), user="analyst")
    assert r.status_code == 202, r.text
    status: dict[str, Any] = taxii_json(r)
    assert status["success_count"] + status["failure_count"] + status["pending_count"] == \
        status["total_count"]
    return status


@pytest.mark.parametrize(("objects", "reason"), [
    (lambda: [indicator()], "no object_marking_refs"),
    (lambda: [indicator("marking-definition--4d3b2a10-0000-4000-8000-000000000000")],
     "unknown"),
    (lambda: [(m := tisa_marking(originator="JPN", level="SECRET")), indicator(m["id"])],
     "originator is JPN"),
    (lambda: [(m := tisa_marking(level="極秘")), indicator(m["id"])], "unknown level"),
])
def test_share_refuses_unmarked_foreign_or_unknown_level(node: Node, objects: Any,
                                                         reason: str) -> None:
    status = share(node, *objects())
    item = [f for f in status["failures"] if f["id"].startswith("indicator--")]
    assert len(item) == 1
    assert reason in item[0]["message"]
    assert status["success_count"] == 0
    assert status["status"] == "complete"
    assert node.store.claim_outbox(limit=100, recipient="JPN") == []
