"""Which loop of the delivery worker a POST wakes: only the one that has work."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from exchange_cluster import Cluster
from stix_samples import indicator, tisa_marking

from tisa.exchange.consent import ConsentDesk


def test_each_post_wakes_the_loop_that_has_work(tmp_path: Path) -> None:
    c = Cluster(tmp_path, as_of={k: date(2015, 6, 1) for k in ("KOR", "USA", "JPN")})
    woken: dict[str, list[tuple[bool, bool]]] = {code: [] for code in ("KOR", "USA", "JPN")}
    for code, calls in woken.items():

        def wake(*, local: bool = True, send: bool = True,
                 calls: list[tuple[bool, bool]] = calls) -> None:
            calls.append((local, send))

        c[code].exchange.wake = wake
    kor = c["KOR"]
    marking = tisa_marking("SECRET")  # relayed with KOR's consent, asked for by USA

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, indicator(marking["id"]))
        assert woken["KOR"] == [(True, False)]  # a share: outbox rows, the local loop's
        assert kor.worker is not None
        await kor.worker.run_once()  # the item reaches USA, which queues a consent request
        assert woken["USA"] == [(False, True)]  # a peer request: only messages queued
        await c.settle()
        desk = ConsentDesk(party="KOR", store=kor.exchange.store,
                           signing_key=kor.exchange.signing_key)
        [request] = desk.open_requests()
        desk.approve(request["id"])
        woken["USA"].clear()
        await kor.worker.run_once()  # the consent reaches USA: a held item to forward
        assert woken["USA"] == [(True, True)]
    c.run(go())
