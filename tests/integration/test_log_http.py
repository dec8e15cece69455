"""The /log/ surface in-process: tlog-tiles reads, the tlog-witness endpoint, fork detection."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import AsgiClient, make_home
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_fixtures import entry, network_with, open_log
from typer.testing import CliRunner

from tisa.api.peer_log_audit import audit_peer
from tisa.api.server import build_app
from tisa.cli.app import app as cli
from tisa.config import load_node_settings, node_signing_key
from tisa.crypto.keys import format_public_key
from tisa.ledger.audit import FindingKind
from tisa.ledger.checkpoint import open_checkpoint
from tisa.ledger.event_log import MemoryEventLog
from tisa.ledger.log_names import log_origin, witness_verifier
from tisa.ledger.merkle import MerkleTree
from tisa.ledger.note import Ed25519Signer, Ed25519Verifier
from tisa.ledger.tiles import (
    build_tile,
    encode_entry_bundle,
    parse_tile_path,
    tiles_for_size,
    verify_entry_bundle,
    verify_tiles,
)
from tisa.ledger.witness import format_add_checkpoint_request, parse_cosignature_response
from tisa.store.log_signing import durable_engine
from tisa.store.sql_witness_store import SqlWitnessStore

JPN_KEY = Ed25519PrivateKey.generate()
USA_KEY = Ed25519PrivateKey.generate()
TEXT = {"Content-Type": "text/plain"}


@dataclass
class Kor:
    home: Path
    client: AsgiClient
    url: str

    def store(self) -> SqlWitnessStore:
        return SqlWitnessStore(durable_engine(self.url))


@pytest.fixture
def kor(tmp_path: Path) -> Kor:
    home = make_home(tmp_path / "kor")
    keys = {"JPN": format_public_key(JPN_KEY.public_key()),
            "USA": format_public_key(USA_KEY.public_key())}
    (home / "network.toml").write_text(network_with(keys, {}))
    settings = load_node_settings(home)
    return Kor(home=home, client=AsgiClient(build_app(settings)), url=settings.log_database_url)


def peer_log(party: str, key: Ed25519PrivateKey) -> MemoryEventLog:
    return MemoryEventLog(origin=log_origin(party),
                          signer=Ed25519Signer(name=log_origin(party), private_key=key))


def test_tiles_and_checkpoint_as_c2sp_says(kor: Kor) -> None:
    assert kor.client.get("/log/checkpoint").status_code == 404  # nothing signed yet
    s = Ed25519Signer(name=log_origin("KOR"), private_key=node_signing_key(kor.home))
    writer = open_log(kor.url, s, kor.home / "log-checkpoint")
    writer.record([entry(i) for i in range(600)])
    writer.sign_checkpoint()
    writer.close()
    r = kor.client.get("/log/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    note_key = CliRunner().invoke(cli, ["node", "key", str(kor.home), "--note"]).output.strip()
    cp = open_checkpoint(r.content, [Ed25519Verifier.from_verifier_key(note_key)],
                         origin="tisa.kor/log").checkpoint
    assert cp.size == 600
    assert [t.path for t in tiles_for_size(600)] == [
        "tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"]

    def read(level: int, index: int, width: int) -> bytes:
        path = parse_tile_path(f"tile/{level}/{index:03d}" + (f".p/{width}" if width < 256
                                                              else ""))
        resp = kor.client.get("/log/" + path.path)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/octet-stream"
        expected = "no-store" if path.is_partial else "public, max-age=31536000, immutable"
        assert resp.headers["cache-control"] == expected
        return resp.content

    assert verify_tiles(read, cp.size, cp.root_hash) == 4
    for ref in tiles_for_size(600, entries=True):
        bundle = kor.client.get("/log/" + ref.path)
        assert bundle.status_code == 200
        tile = read(0, ref.index, ref.width)
        assert len(verify_entry_bundle(bundle.content, tile, ref.width)) == ref.width
    assert kor.client.get("/log/tile/0/x000/001").status_code == 400  # not canonical
    assert kor.client.get("/log/tile/0/003").status_code == 404
    assert kor.client.get("/log/tile/0/002").status_code == 404  # not full yet
    assert kor.client.get("/log/tile/0/002.p/89").status_code == 404
    assert kor.client.get("/log/tile/entries/002.p/88").status_code == 200


def add(kor: Kor, body: bytes) -> httpx.Response:
    return kor.client.post("/log/add-checkpoint", content=body, headers=TEXT)


def request_for(log: MemoryEventLog, old: int) -> bytes:
    note = log.sign().to_bytes()
    tree = MerkleTree([])
    for data in log.entries():
        tree.append(data)
    return format_add_checkpoint_request(old, tree.consistency_proof(old), note)


def test_witness_cosigns_and_refuses_with_the_spec_codes(kor: Kor) -> None:
    jpn = peer_log("JPN", JPN_KEY)
    jpn.record([entry(i, frm="JPN", to="KOR") for i in range(5)])
    store = kor.store()
    origin = log_origin("JPN")

    assert add(kor, b"not a request").status_code == 400
    assert add(kor, b"old 0\n\n" + b"x" * 70_000).status_code == 413
    stranger = peer_log("CHN", Ed25519PrivateKey.generate())
    stranger.record([entry(1)])
    assert add(kor, request_for(stranger, 0)).status_code == 404
    impostor = peer_log("JPN", Ed25519PrivateKey.generate())
    impostor.record([entry(1)])
    assert add(kor, request_for(impostor, 0)).status_code == 403
    assert store.witness_state(origin) is None  # nothing recorded on refusal

    body = request_for(jpn, 0)
    ok = add(kor, body)
    assert ok.status_code == 200, ok.text
    note = parse_cosignature_response(ok.content, body.split(b"\n\n", 1)[1])
    witness = witness_verifier("KOR", node_signing_key(kor.home).public_key())
    assert note.signatures[-1].key_id == witness.key_id
    assert witness.verify(note.text.encode(), note.signatures[-1].signature)
    state = store.witness_state(origin)
    assert state is not None and state.size == 5

    jpn.record([entry(i, frm="JPN", to="KOR") for i in range(5, 9)])
    stale = add(kor, request_for(jpn, 3))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"
    assert stale.content == b"5\n"
    good = request_for(jpn, 5)
    head, _, cp_note = good.partition(b"\n\n")
    lines = head.split(b"\n")
    assert add(kor, lines[0] + b"\n!!\n\n" + cp_note).status_code == 400  # bad base64
    wrong = lines[0] + b"\n" + b"\n".join([b"A" * 43 + b"="] * (len(lines) - 1)) + b"\n\n"
    assert add(kor, wrong + cp_note).status_code == 422
    assert store.witness_state(origin) == state  # unchanged by every refusal
    assert add(kor, good).status_code == 200
    assert store.witness_state(origin).size == 9  # type: ignore[union-attr]


def test_hub_showing_two_histories_is_caught(kor: Kor) -> None:
    """The USA hub signs two different trees of the same size; KOR cosigns one, and the hub
    serves the other (cosigned by another witness) to everyone. KOR's witness endpoint and
    its audit both catch it."""
    a, b = peer_log("USA", USA_KEY), peer_log("USA", USA_KEY)
    a.record([entry(i, frm="USA", to="KOR") for i in range(4)])
    b.record([entry(i, frm="USA", to="JPN") for i in range(4)])
    assert add(kor, request_for(a, 0)).status_code == 200
    assert add(kor, request_for(b, 0)).status_code == 409  # a fork, refused as a witness

    tree = MerkleTree()
    for data in b.entries():
        tree.append(data)
    served = b.sign().to_bytes()

    def hub(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/log/")
        if path == "checkpoint":
            return httpx.Response(200, content=served)
        ref = parse_tile_path(path)
        if ref.level is None:
            start = ref.index * 256
            return httpx.Response(200, content=encode_entry_bundle(
                b.entries()[start:start + ref.width]))
        return httpx.Response(200, content=build_tile(tree.node, ref))

    with httpx.Client(transport=httpx.MockTransport(hub)) as client:
        result = audit_peer(
            party="USA", endpoint="http://hub.test", origin=log_origin("USA"),
            log_verifier=Ed25519Verifier(name=log_origin("USA"), public_key=USA_KEY.public_key()),
            own_party="KOR", own_entries=[], store=kor.store(), client=client)
    assert [f.kind for f in result.findings] == [FindingKind.FORK]


def test_a_log_that_cannot_prove_consistency_serves_no_checkpoint(tmp_path: Path) -> None:
    """The high-water file says a larger tree was signed: the publisher stops signing,
    and /log/checkpoint answers 503 instead of a checkpoint."""
    from starlette.applications import Starlette

    from tisa.api.log_node import LogNode
    from tisa.api.log_publisher import LogPublisher
    from tisa.api.log_routes import log_routes
    from tisa.ledger.cosignature import CosignatureV1Signer
    from tisa.store.sql_event_log import SqlEventLog

    key = Ed25519PrivateKey.generate()
    s = Ed25519Signer(name=log_origin("KOR"), private_key=key)
    forged = peer_log("KOR", key)
    forged.record([entry(i) for i in range(50)])
    (tmp_path / "log-checkpoint").write_bytes(forged.sign().to_bytes())
    url = f"sqlite:///{tmp_path / 'l.db'}"
    writer = open_log(url, s)  # no high-water file: opens and signs size 3
    writer.record([entry(i) for i in range(3)])
    writer.sign_checkpoint()
    writer.close()
    event_log = SqlEventLog(durable_engine(url), origin=s.name, signer=s,
                            high_water=tmp_path / "log-checkpoint")
    node = LogNode(party="KOR", event_log=event_log, witness_store=SqlWitnessStore(
        event_log.engine), cosigner=CosignatureV1Signer(name="tisa.kor/witness",
                                                        private_key=key), peers={})
    client = AsgiClient(Starlette(routes=log_routes(node)))
    assert client.get("/log/checkpoint").status_code == 200  # not yet checked
    publisher = LogPublisher(node)
    publisher.run_once()
    assert publisher.failed is not None
    assert client.get("/log/checkpoint").status_code == 503
    node.close()
