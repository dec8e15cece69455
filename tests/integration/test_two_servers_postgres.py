"""Two ``tisa serve`` processes on one PostgreSQL database: concurrent posts to both and a
reader following the collection through both; nothing duplicated, nothing lost."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from conftest import TAXII, auth, make_home, start_server, stop_server
from stix_samples import envelope, indicator

pytestmark = pytest.mark.postgres

WRITERS_PER_SERVER = 3
BATCHES = 12
BATCH = 20


def test_two_servers_share_one_database(tmp_path: Path, postgres_url: str) -> None:
    home = make_home(tmp_path / "kor", database_url=postgres_url)
    servers = [start_server(home), start_server(home)]
    try:
        with httpx.Client(timeout=30) as probe:
            cols = probe.get(servers[0].api + "collections/", auth=auth("admin"),
                             headers={"Accept": TAXII}).json()["collections"]
        local = next(c["id"] for c in cols if c["title"] == "local")
        paths = f"collections/{local}/objects/"
        posted: list[str] = []
        lock = threading.Lock()
        errors: list[str] = []
        writing = threading.Event()
        writing.set()

        def write(server_index: int) -> None:
            url = servers[server_index].api + paths
            with httpx.Client(timeout=30) as client:
                for _ in range(BATCHES):
                    objs = [indicator() for _ in range(BATCH)]
                    r = client.post(url, json=envelope(*objs), auth=auth("analyst"),
                                    headers={"Accept": TAXII, "Content-Type": TAXII})
                    if r.status_code != 202 or r.json()["success_count"] != BATCH:
                        errors.append(r.text)
                        return
                    with lock:
                        posted.extend(o["id"] for o in objs)

        seen: list[str] = []

        def follow() -> None:
            """Page through both servers in turn, then keep following with added_after."""
            added_after: str | None = None
            turn = 0
            with httpx.Client(timeout=30) as client:
                while True:
                    finished = not writing.is_set()
                    params: dict[str, str] = {"limit": "37", "match[type]": "indicator"}
                    if added_after:
                        params["added_after"] = added_after
                    while True:
                        url = servers[turn % 2].api + paths
                        turn += 1
                        r = client.get(url, params=params, auth=auth("conf"),
                                       headers={"Accept": TAXII})
                        if r.status_code != 200:
                            errors.append(r.text)
                            return
                        body = r.json()
                        seen.extend(o["id"] for o in body.get("objects", []))
                        if "x-taxii-date-added-last" in r.headers:
                            added_after = r.headers["x-taxii-date-added-last"]
                        if not body["more"]:
                            break
                        params = {**params, "next": body["next"]}
                    if finished:
                        return

        reader = threading.Thread(target=follow)
        reader.start()
        writers = [threading.Thread(target=write, args=(i % 2,))
                   for i in range(2 * WRITERS_PER_SERVER)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        writing.clear()
        reader.join()
        assert errors == []
        assert len(posted) == 2 * WRITERS_PER_SERVER * BATCHES * BATCH
        assert len(seen) == len(set(seen)), "a reader saw an object twice"
        assert set(seen) == set(posted), f"lost {len(set(posted) - set(seen))} objects"
    finally:
        for s in servers:
            stop_server(s)
