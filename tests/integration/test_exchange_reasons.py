"""What the originator's TAXII status says when something does not go through: who
refused it and why (a rule's reason; a verification failure stays opaque), a refused
consent or consent request settled at once, and the last delivery error while a share
keeps retrying."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from exchange_cluster import Cluster
from sqlalchemy import update
from stix_samples import indicator, tisa_marking

from tisa.exchange.consent import ConsentDesk
from tisa.store.exchange_tables import exchange_held

BEFORE_GSOMIA = date(2015, 6, 1)  # TISA in force (relay via USA), the KOR-JPN GSOMIA not yet
GSOMIA = date(2017, 6, 1)


def messages(status: dict[str, Any], key: str) -> str:
    return " | ".join(e["message"] for e in status.get(key) or [])


def item_message(status: dict[str, Any], item_id: str) -> str:
    for key in ("successes", "failures", "pendings"):
        for entry in status.get(key) or []:
            if entry["id"] == item_id:
                return str(entry["message"])
    raise AssertionError(f"{item_id} not in {status}")


def desk(c: Cluster, code: str = "KOR") -> ConsentDesk:
    ex = c[code].exchange
    return ConsentDesk(party=code, store=ex.store, signing_key=ex.signing_key)


def test_relay_refused_by_the_recipient_names_it_and_the_rule(tmp_path: Path) -> None:
    """A hub that forwards without consent (here: its held row is moved on by hand) is
    refused by JPN; KOR's status names JPN and the rule, not just 'item refused'."""
    c = Cluster(tmp_path, as_of={k: BEFORE_GSOMIA for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        with c["USA"].exchange.store.engine.begin() as conn:
            conn.execute(update(exchange_held).values(state="forward"))
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        text = item_message(done, item["id"])
        assert "JPN refused it" in text and "relayed by USA without any consent" in text, text
        assert await c.inbox("JPN") == []
    c.run(go())


def test_relay_refused_by_the_recipients_route_recheck_says_why(tmp_path: Path) -> None:
    """JPN re-checks the route on its own day (before TISA was in force): refused, and
    KOR's status names JPN and the agreement that is not in force."""
    c = Cluster(tmp_path, as_of={"KOR": BEFORE_GSOMIA, "USA": BEFORE_GSOMIA,
                                 "JPN": date(2014, 6, 1)})
    marking = tisa_marking("SECRET", consent_to=["JPN"])
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        done = await c.status("KOR", status["id"])
        text = item_message(done, item["id"])
        assert "JPN refused it" in text, text
        assert "not allowed on 2014-06-01" in text and "tisa: not in force" in text, text
    c.run(go())


def test_consent_refused_by_the_hub_ends_the_share_at_once(tmp_path: Path) -> None:
    """KOR approves, but the hub holds nothing for that request any more (here: its held
    row's request id changed by hand): the hub refuses KOR's consent, and KOR's share
    ends now with the hub's reason instead of staying pending."""
    c = Cluster(tmp_path, as_of={k: BEFORE_GSOMIA for k in ("KOR", "USA", "JPN")})
    marking = tisa_marking("SECRET")
    item = indicator(marking["id"])

    async def go() -> None:
        status = await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [request] = desk(c).open_requests()
        with c["USA"].exchange.store.engine.begin() as conn:
            conn.execute(update(exchange_held).values(request_id="lost"))
        desk(c).approve(request["id"])
        await c.settle()
        done = await c.status("KOR", status["id"])
        assert done["failure_count"] == 2, done
        text = item_message(done, item["id"])
        assert f"USA refused KOR's consent {request['id']}" in text, text
        assert "matches no item held at USA" in text, text
    c.run(go())


def test_consent_request_refused_by_the_originator_ends_the_onward_share(
        tmp_path: Path) -> None:
    """AUS (which received KOR's item from JPN) shares it on to JPN: KOR refuses AUS's
    consent request (it never sent the item to AUS), and AUS's share fails at once with
    KOR's reason — not 'expired unanswered' a consent TTL later."""
    from test_exchange_onward import network_with_aus

    c = Cluster(tmp_path, ("KOR", "USA", "JPN", "AUS"), network=network_with_aus(),
                as_of={k: GSOMIA for k in ("KOR", "USA", "JPN", "AUS")})
    marking = tisa_marking("SECRET", consent_to=["AUS"])
    item = indicator(marking["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, item)
        await c.settle()
        [got] = [o for o in await c.inbox("JPN") if o["id"] == item["id"]]
        first = await c.post("JPN", "to-AUS", got)
        await c.settle()
        assert (await c.status("JPN", first["id"]))["success_count"] == 1
        [again] = [o for o in await c.inbox("AUS") if o["id"] == item["id"]]
        second = await c.post("AUS", "to-JPN", again)
        await c.settle()
        done = await c.status("AUS", second["id"])
        assert done["failure_count"] == 1, done
        text = item_message(done, item["id"])
        assert "KOR refused the consent request" in text, text
        assert "KOR did not send to it" in text, text
        assert c["AUS"].exchange.store.held_in_state("awaiting") == []
    c.run(go())
