"""A real ``tisa serve`` on loopback, driven by software nobody here wrote:
taxii2-client (Server, ApiRoot, Collection, as_pages) and stix2's TAXIICollectionStore.
Every envelope the node returns is checked with stix2-validator in strict mode."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import stix2
from conftest import (
    TAXII,
    Server,
    assert_valid_stix,
    auth,
    start_server,
    stop_server,
    taxii_json,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from stix_samples import envelope, indicator, tisa_marking
from taxii2client.v21 import Collection, as_pages
from taxii2client.v21 import Server as TaxiiServer


def collection(server: Server, title: str, user: str = "admin") -> Collection:
    name, password = auth(user)
    taxii = TaxiiServer(server.url + "/taxii2/", user=name, password=password)
    root = taxii.default or taxii.api_roots[0]
    for c in root.collections:
        if c.title == title:
            return c
    raise AssertionError(f"no collection {title}")


def test_taxii2_client_round_trip_with_as_pages(server: Server) -> None:
    local = collection(server, "local", "analyst")
    assert local.can_read
    assert local.can_write
    objs = [indicator(name=f"telemetry {i}") for i in range(25)]
    status = local.add_objects(envelope(*objs))
    assert status.status == "complete"
    assert status.success_count == 25
    pages = list(as_pages(local.get_objects, per_request=10))
    assert [len(p.get("objects", [])) for p in pages] == [10, 10, 6]  # + the extension
    got = [o for p in pages for o in p.get("objects", [])]
    assert_valid_stix(got)
    assert {o["id"] for o in objs} <= {o["id"] for o in got}
    manifests = list(as_pages(local.get_manifest, per_request=7))
    assert sum(len(m.get("objects", [])) for m in manifests) == 26
    one = local.get_object(objs[0]["id"])
    assert one["objects"][0] == objs[0]
    versions = local.object_versions(objs[0]["id"])
    assert versions["versions"] == [objs[0]["modified"]]
    filtered = local.get_objects(type="extension-definition")
    assert [o["type"] for o in filtered["objects"]] == ["extension-definition"]
    later = local.get_objects(added_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert later.get("objects", []) == []


def test_stix2_taxii_collection_store(server: Server) -> None:
    store = stix2.TAXIICollectionStore(collection(server, "local", "analyst"))
    ind = stix2.Indicator(name="relay host", description="seen relaying telemetry",
                          indicator_types=["malicious-activity"],
                          pattern="[domain-name:value = 'relay.example']", pattern_type="stix",
                          valid_from="2026-11-01T00:00:00Z")
    store.add(ind)
    fetched = store.get(ind.id)
    assert fetched.id == ind.id
    assert fetched.name == "relay host"
    found = store.query([stix2.Filter("type", "=", "indicator")])
    assert ind.id in {o.id for o in found}
    assert_valid_stix([json.loads(o.serialize()) for o in found])


def test_error_paths_over_the_wire(server: Server) -> None:
    local = collection(server, "local")
    url = local.url + "objects/"
    with httpx.Client(timeout=10) as client:
        r = client.get(url, headers={"Accept": TAXII})
        assert r.status_code == 401
        assert "Basic" in r.headers["www-authenticate"]
        assert taxii_json(r)["http_status"] == "401"
        r = client.get(url, headers={"Accept": "application/json"}, auth=auth("admin"))
        assert r.status_code == 406
        r = client.post(url, content=b"{}", auth=auth("admin"),
                        headers={"Accept": TAXII, "Content-Type": "text/plain"})
        assert r.status_code == 415

        def chunks() -> Any:  # no Content-Length: the limit must hold on the stream
            yield b'{"objects": ['
            for _ in range(200):
                yield b" " * 65536
            yield b"]}"

        r = client.post(url, content=chunks(), auth=auth("admin"),
                        headers={"Accept": TAXII, "Content-Type": TAXII})
        assert r.status_code == 413
        r = client.post(url, json={"objects": [{"type": "indicator"}]}, auth=auth("admin"),
                        headers={"Accept": TAXII, "Content-Type": TAXII})
        assert r.status_code == 422
        r = client.get(url, params={"added_after": "2026-02-30T00:00:00Z"}, auth=auth("admin"),
                       headers={"Accept": TAXII})
        assert r.status_code == 400
        r = client.get(url, params={"next": "abc.def"}, auth=auth("admin"),
                       headers={"Accept": TAXII})
        assert r.status_code == 400


def test_share_request_is_never_reported_success_without_delivery(server: Server) -> None:
    to_jpn = collection(server, "to-JPN", "analyst")
    m = tisa_marking("SECRET", "KOR", ("nk-missile",))
    item = indicator(m["id"])
    status = to_jpn.add_objects(envelope(m, item))
    assert status.success_count == 0
    assert status.total_count == 2
    assert status.pending_count + status.failure_count == 2
    for detail in (status.failures or []) + (status.pendings or []):
        assert detail["message"]


def test_sigterm_stops_cleanly(home: Path) -> None:
    server = start_server(home)
    local = collection(server, "local")
    local.add_objects(envelope(indicator()))
    assert stop_server(server) == 0


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_when_given_a_certificate(home: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = start_server(home, extra=("--tls-cert", str(cert), "--tls-key", str(key)),
                          scheme="https")
    try:
        context = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(server.url + "/taxii2/", verify=context, auth=auth("conf"),
                      headers={"Accept": TAXII})
        assert r.status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https", "http") + "/taxii2/", timeout=3)
    finally:
        stop_server(server)


def test_kill_9_mid_ingest_leaves_no_half_written_request(home: Path) -> None:
    server = start_server(home)
    local = collection(server, "local")
    batch = 50
    stop = threading.Event()

    def post_forever() -> None:
        n = 0
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                objs = [indicator(name=f"batch-{n}") for _ in range(batch)]
                try:
                    client.post(local.url + "objects/", json=envelope(*objs), auth=auth("admin"),
                                headers={"Accept": TAXII, "Content-Type": TAXII})
                except httpx.TransportError:
                    return
                n += 1

    writers = [threading.Thread(target=post_forever) for _ in range(3)]
    for w in writers:
        w.start()
    threading.Event().wait(2.0)
    server.process.kill()
    server.process.wait()
    stop.set()
    for w in writers:
        w.join()
    again = start_server(home)
    try:
        local = collection(again, "local")
        counts: dict[str, int] = {}
        for page in as_pages(local.get_objects, per_request=500, type="indicator"):
            for o in page.get("objects", []):
                assert o["description"]  # whole objects only
                counts[o["name"]] = counts.get(o["name"], 0) + 1
        assert counts, "nothing was ingested before the kill"
        partial = {name: c for name, c in counts.items() if c % batch}
        assert partial == {}, f"requests half-written: {partial}"
    finally:
        stop_server(again)
