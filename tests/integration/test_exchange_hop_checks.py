"""Verification at every hop, at the final recipient (JPN): real envelopes signed with
the cluster nodes' own keys (read from their homes), posted in validly signed batches,
each with exactly one part forged or wrong. Whatever fails is refused with a reason,
logged as ``refused``, and nothing is stored: not in ``inbox``, not in
``exchange_received``. A control with every part genuine is received, so each refusal
is the forged part's doing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import NETWORK
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_cluster import PEER_HEADERS, Cluster, endpoint
from sqlalchemy import Table, func, select
from stix_samples import indicator, tisa_marking

from tisa.config import node_signing_key
from tisa.crypto._encoding import JsonValue
from tisa.crypto.batches import BatchReplyStatement
from tisa.crypto.dsse import parse_envelope, sign_envelope
from tisa.crypto.items import new_item_statement
from tisa.crypto.statements import ConsentStatement, RelayStatement, Statement
from tisa.exchange.context import now_text
from tisa.exchange.protocol import sign_request
from tisa.ledger.entries import parse_entry
from tisa.store.exchange_tables import exchange_held, exchange_received, exchange_sent
from tisa.store.sql_event_log import SqlEventLog

RELAY_DAY = date(2015, 6, 1)  # TISA in force, the KOR-JPN GSOMIA not yet: relay only
BEFORE_TISA = date(2014, 6, 1)  # no agreement covers KOR -> JPN at all
ALL = ("KOR", "USA", "JPN")

Message = dict[str, JsonValue]


def key(c: Cluster, code: str) -> Ed25519PrivateKey:
    """The node's real signing key, from its home (what ``tisa serve`` signs with)."""
    return node_signing_key(c[code].home)


def sign(statement: Statement, signer_key: Ed25519PrivateKey, keyid: str | None = None) -> str:
    """``statement`` signed with ``signer_key``, under ``keyid`` (default: its signer)."""
    return sign_envelope(statement.PAYLOAD_TYPE, statement.to_bytes(), signer_key,
                         keyid or statement.signer).to_json().decode()


@dataclass
class Item:
    text: str
    digest: str
    item_id: str
    version: str


def item(c: Cluster, *, recipient: str = "JPN", path: tuple[str, ...] = ("KOR", "USA", "JPN"),
         signer: str = "KOR", keyid: str | None = None,
         consent_to: tuple[str, ...] | None = None) -> Item:
    """KOR's item (SECRET, nk-missile), signed by ``signer``'s real key."""
    obj = indicator()
    statement = new_item_statement(
        originator="KOR", recipient=recipient, path=path, item_id=obj["id"],
        item_version=obj["modified"], level="SECRET", topics=("nk-missile",),
        created=now_text(), content={"stix": json.dumps(obj)}, consent_to=consent_to)
    text = sign(statement, key(c, signer), keyid)
    return Item(text=text, digest=parse_envelope(text).digest(), item_id=obj["id"],
                version=obj["modified"])


def consent(c: Cluster, it: Item, *, signer: str = "KOR", keyid: str | None = None,
            holder: str = "USA", recipient: str = "JPN", envelope_sha256: str | None = None,
            decision: str = "approve") -> str:
    statement = ConsentStatement(
        request_id=str(uuid.uuid4()), originator="KOR", holder=holder, recipient=recipient,
        item_id=it.item_id, item_version=it.version,
        envelope_sha256=envelope_sha256 or it.digest,
        decision="approve" if decision == "approve" else "deny", decided_at=now_text())
    return sign(statement, key(c, signer), keyid)


def relay(c: Cluster, it: Item, consent_text: str | None, *, signer: str = "USA",
          keyid: str | None = None, envelope_sha256: str | None = None,
          consent_sha256: str | None = None, recipient: str = "JPN") -> str:
    statement = RelayStatement(
        hub="USA", originator="KOR", recipient=recipient,
        envelope_sha256=envelope_sha256 or it.digest, item_id=it.item_id,
        item_version=it.version, agreement_id="tisa", relayed_on=RELAY_DAY.isoformat(),
        consent_sha256=consent_sha256 or (
            None if consent_text is None else parse_envelope(consent_text).digest()))
    return sign(statement, key(c, signer), keyid)


def relayed(it: Item, relay_text: str | None, consent_text: str | None) -> Message:
    message: Message = {"kind": "item", "item": it.text}
    if relay_text is not None:
        message["relay"] = relay_text
    if consent_text is not None:
        message["consent"] = consent_text
    return message


def genuine(c: Cluster) -> Message:
    """A relay as the hub makes it: KOR's item, KOR's consent, USA's relay statement."""
    it = item(c)
    agreed = consent(c, it)
    return relayed(it, relay(c, it, agreed), agreed)


def deliver(c: Cluster, sender: str, message: Message, to: str = "JPN"
            ) -> dict[str, JsonValue]:
    """One message in a validly signed batch from ``sender`` to ``to``: its result."""
    body, _ = sign_request(c[sender].exchange, to, [message])

    async def go() -> dict[str, JsonValue]:
        r = await c.client.post(endpoint(to) + "/exchange/v1/messages", content=body,
                                headers=PEER_HEADERS)
        assert r.status_code == 200, r.text  # the batch itself is fine
        return dict(BatchReplyStatement.from_bytes(parse_envelope(r.content).payload
                                                   ).results[0])
    result: dict[str, JsonValue] = c.run(go())
    return result


def refused_reasons(c: Cluster, code: str) -> list[str]:
    log = c[code].exchange.events
    assert isinstance(log, SqlEventLog)  # the node's durable log, as tisa serve wires it
    entries = [parse_entry(data) for _, data in log.reader.entries()]
    return [e.reason or "" for e in entries if e.kind == "refused"]


def received_rows(c: Cluster, code: str, table: Table = exchange_received) -> int:
    with c[code].exchange.store.engine.connect() as conn:
        count: int = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return count


def inbox(c: Cluster, code: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = c.run(c.inbox(code))
    return objects


def assert_refused(c: Cluster, result: dict[str, JsonValue], logged: str, at: str = "JPN"
                   ) -> None:
    """Refused with a reason, ``logged`` in ``at``'s ``refused`` log entry, nothing stored."""
    assert result["outcome"] == "refused", result
    assert isinstance(result.get("reason"), str) and result["reason"], result
    assert "receipt" not in result
    reasons = refused_reasons(c, at)
    assert any(logged in r for r in reasons), reasons
    assert inbox(c, at) == []
    assert received_rows(c, at) == 0
    assert received_rows(c, at, exchange_held) == 0


@pytest.fixture
def relay_cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path, ALL, as_of={code: RELAY_DAY for code in ALL})


# --- the controls: every part genuine is received -------------------------------------


def test_control_genuine_relay_is_received(relay_cluster: Cluster) -> None:
    c = relay_cluster
    result = deliver(c, "USA", genuine(c))
    assert result["outcome"] == "received", result
    assert received_rows(c, "JPN") == 1
    assert refused_reasons(c, "JPN") == []


def test_control_genuine_direct_item_is_received(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ALL)  # today: the KOR-JPN GSOMIA is in force
    result = deliver(c, "KOR", {"kind": "item", "item": item(c, path=("KOR", "JPN")).text})
    assert result["outcome"] == "received", result
    assert received_rows(c, "JPN") == 1


def evidence(c: Cluster, code: str = "JPN") -> tuple[str | None, str | None]:
    with c[code].exchange.store.engine.connect() as conn:
        row = conn.execute(select(exchange_received.c.relay, exchange_received.c.consent)
                           ).one()
    return row.relay, row.consent


def test_only_verified_statements_are_kept_as_evidence(tmp_path: Path) -> None:
    """Unchecked extras riding along with a valid item are not stored beside it as if
    they were its relay statement or consent."""
    c = Cluster(tmp_path, ALL)
    it = item(c, path=("KOR", "JPN"))
    result = deliver(c, "KOR", {"kind": "item", "item": it.text, "relay": "made up",
                                "consent": "made up"})
    assert result["outcome"] == "received", result
    assert evidence(c) == (None, None)


def test_a_consent_the_relay_does_not_rely_on_is_not_kept(relay_cluster: Cluster) -> None:
    c = relay_cluster
    it = item(c, consent_to=("JPN",))  # prior consent in the item itself
    statement = relay(c, it, None)
    result = deliver(c, "USA", relayed(it, statement, "made up"))
    assert result["outcome"] == "received", result
    assert evidence(c) == (statement, None)


def test_a_relayed_item_keeps_its_relay_statement_and_consent(relay_cluster: Cluster) -> None:
    c = relay_cluster
    message = genuine(c)
    assert deliver(c, "USA", message)["outcome"] == "received"
    assert evidence(c) == (message["relay"], message["consent"])


# --- the route, re-checked by the final recipient itself --------------------------------


def test_recipient_refuses_a_relay_on_a_day_its_agreements_do_not_allow(tmp_path: Path
                                                                       ) -> None:
    """Hub and originator think TISA is in force; on JPN's own day it is not yet."""
    c = Cluster(tmp_path, ALL, as_of={"KOR": RELAY_DAY, "USA": RELAY_DAY, "JPN": BEFORE_TISA})
    result = deliver(c, "USA", genuine(c))
    assert "route KOR -> USA -> JPN not allowed on 2014-06-01 here" in str(result["reason"])
    assert_refused(c, result, "not allowed on 2014-06-01 here")


def test_recipient_refuses_a_relay_its_own_network_file_does_not_allow(tmp_path: Path
                                                                      ) -> None:
    """End to end: JPN's own copy of the network file says TISA covers nk-nuclear only.
    USA relays KOR's nk-missile item (KOR consented up front) by its own copy; JPN
    re-checks on its own, refuses, and KOR's status says so."""
    own = NETWORK.read_text().replace('topics = ["nk-nuclear", "nk-missile"]',
                                      'topics = ["nk-nuclear"]')
    assert own != NETWORK.read_text()
    c = Cluster(tmp_path, ALL, as_of={code: RELAY_DAY for code in ALL},
                own_networks={"JPN": own})
    marking = tisa_marking("SECRET", topics=("nk-missile",), consent_to=["JPN"])
    obj = indicator(marking["id"])

    async def go() -> dict[str, Any]:
        status = await c.post("KOR", "to-JPN", marking, obj)
        await c.settle()
        done: dict[str, Any] = await c.status("KOR", status["id"])
        return done

    done = c.run(go())
    assert done["failure_count"] == 2, done
    failures = " | ".join(f["message"] for f in done["failures"])
    assert "JPN refused it: route KOR -> USA -> JPN not allowed" in failures, failures
    assert any("route KOR -> USA -> JPN not allowed" in r for r in refused_reasons(c, "JPN"))
    assert inbox(c, "JPN") == []
    assert received_rows(c, "JPN") == 0
    assert [h["item_id"] for h in c["USA"].exchange.store.held_in_state("dropped")] == [
        obj["id"]]


# --- the originator's consent ----------------------------------------------------------


CONSENTS: dict[str, tuple[Callable[[Cluster, Item], str], str]] = {
    # forged: the hub signs a consent in KOR's name (under KOR's keyid, or its own)
    "signed-by-the-hub": (lambda c, it: consent(c, it, signer="USA"),
                          "signature does not verify"),
    "signed-by-the-hub-under-its-own-keyid": (
        lambda c, it: consent(c, it, signer="USA", keyid="USA"), "not a trusted key"),
    "for-another-envelope": (lambda c, it: consent(c, it, envelope_sha256="ab" * 32),
                             "consent does not approve this relay"),
    "for-another-recipient": (lambda c, it: consent(c, it, recipient="GBR"),
                              "consent does not approve this relay"),
    "for-another-holder": (lambda c, it: consent(c, it, holder="GBR"),
                           "consent does not approve this relay"),
    "denied": (lambda c, it: consent(c, it, decision="deny"),
               "consent does not approve this relay"),
}


@pytest.mark.parametrize("case", sorted(CONSENTS))
def test_relay_with_a_bad_consent_is_refused(relay_cluster: Cluster, case: str) -> None:
    c = relay_cluster
    make, logged = CONSENTS[case]
    it = item(c)
    bad = make(c, it)
    # The hub's relay statement is genuine and names exactly this consent.
    result = deliver(c, "USA", relayed(it, relay(c, it, bad), bad))
    assert_refused(c, result, logged)


def test_relay_naming_a_consent_other_than_the_one_carried_is_refused(
        relay_cluster: Cluster) -> None:
    c = relay_cluster
    it = item(c)
    carried, named = consent(c, it), consent(c, it)  # both genuine, two different envelopes
    result = deliver(c, "USA", relayed(it, relay(c, it, named), carried))
    assert_refused(c, result, "consent does not approve this relay")


def test_relay_without_any_consent_is_refused(relay_cluster: Cluster) -> None:
    c = relay_cluster
    it = item(c)  # no consent_to: JPN was not consented up front
    result = deliver(c, "USA", relayed(it, relay(c, it, None), None))
    assert_refused(c, result, "relayed by USA without any consent")


def test_relay_naming_a_consent_it_does_not_carry_is_refused(relay_cluster: Cluster) -> None:
    c = relay_cluster
    it = item(c)
    result = deliver(c, "USA", relayed(it, relay(c, it, consent(c, it)), None))
    assert_refused(c, result, "names a consent that is not carried")


# --- the hub's relay statement -----------------------------------------------------------


RELAYS: dict[str, tuple[Callable[[Cluster, Item, str], str], str]] = {
    # forged: the statement says hub USA but another party signed it
    "signed-by-the-originator": (lambda c, it, ok: relay(c, it, ok, signer="KOR"),
                                 "signature does not verify"),
    "signed-by-the-recipient-under-its-own-keyid": (
        lambda c, it, ok: relay(c, it, ok, signer="JPN", keyid="JPN"), "not a trusted key"),
    "naming-another-envelope": (
        lambda c, it, ok: relay(c, it, ok, envelope_sha256=item(c).digest),
        "relay statement does not match item"),
}


@pytest.mark.parametrize("case", sorted(RELAYS))
def test_relay_with_a_bad_relay_statement_is_refused(relay_cluster: Cluster, case: str
                                                     ) -> None:
    c = relay_cluster
    make, logged = RELAYS[case]
    it = item(c)
    agreed = consent(c, it)
    result = deliver(c, "USA", relayed(it, make(c, it, agreed), agreed))
    assert_refused(c, result, logged)


def test_relayed_item_without_a_relay_statement_is_refused(relay_cluster: Cluster) -> None:
    c = relay_cluster
    it = item(c)
    result = deliver(c, "USA", relayed(it, None, consent(c, it)))
    assert_refused(c, result, "relayed by USA without a relay statement")


# --- the originator's signature on the item itself ---------------------------------------


@pytest.mark.parametrize("keyid", ["KOR", "USA"])
def test_item_signed_by_another_key_in_the_originators_batch_is_refused(
        tmp_path: Path, keyid: str) -> None:
    """KOR's own, validly signed batch carries an item that claims KOR as originator but
    is signed with USA's key (under KOR's keyid, or honestly under USA's)."""
    c = Cluster(tmp_path, ALL)
    forged = item(c, path=("KOR", "JPN"), signer="USA", keyid=keyid)
    result = deliver(c, "KOR", {"kind": "item", "item": forged.text})
    assert_refused(c, result, "signature does not verify" if keyid == "KOR"
                   else "names KOR as signer, but the signature verified under USA")


def test_relayed_item_signed_by_the_hub_is_refused(relay_cluster: Cluster) -> None:
    """The hub cannot make up an item in KOR's name, even with its own genuine relay
    statement and a consent that names that exact envelope."""
    c = relay_cluster
    it = item(c, signer="USA")
    agreed = consent(c, it)
    result = deliver(c, "USA", relayed(it, relay(c, it, agreed), agreed))
    assert_refused(c, result, "signature does not verify")


# --- the recipient named inside the signed item ------------------------------------------


def test_item_for_another_recipient_delivered_here_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ALL)
    it = item(c, recipient="USA", path=("KOR", "USA"))
    result = deliver(c, "KOR", {"kind": "item", "item": it.text})
    assert_refused(c, result, "names recipient USA, not JPN")


def test_item_relayed_to_a_third_party_delivered_here_is_refused(relay_cluster: Cluster
                                                                 ) -> None:
    """A relay for GBR through USA, sent to JPN instead, with parts that all verify."""
    c = relay_cluster
    it = item(c, recipient="GBR", path=("KOR", "USA", "GBR"))
    agreed = consent(c, it, recipient="GBR")
    result = deliver(c, "USA", relayed(it, relay(c, it, agreed, recipient="GBR"), agreed))
    assert_refused(c, result, "names recipient GBR, not JPN")


def test_item_for_the_hub_passed_on_by_the_hub_without_consent_is_refused(
        tmp_path: Path) -> None:
    """KOR shared an item with USA directly; USA passing it on to JPN is onward sharing,
    which needs KOR's consent (third-party rule)."""
    c = Cluster(tmp_path, ALL)
    it = item(c, recipient="USA", path=("KOR", "USA"))
    result = deliver(c, "USA", {"kind": "item", "item": it.text})
    assert_refused(c, result, "USA passes on")


# --- the hub (USA): items from their originator only, on its own day; consents ----------


def test_hub_refuses_an_item_passed_to_it_by_someone_else(relay_cluster: Cluster) -> None:
    """JPN hands USA a genuine KOR item for relay: a hub takes items from originators."""
    c = relay_cluster
    result = deliver(c, "JPN", {"kind": "item", "item": item(c).text}, to="USA")
    assert_refused(c, result, "a hub takes items from originators only", at="USA")


def test_hub_refuses_an_item_not_signed_by_its_originator(relay_cluster: Cluster) -> None:
    c = relay_cluster
    forged = item(c, signer="JPN")  # in KOR's name, in KOR's own batch
    result = deliver(c, "KOR", {"kind": "item", "item": forged.text}, to="USA")
    assert_refused(c, result, "signature does not verify", at="USA")


def test_hub_refuses_a_relay_its_own_day_does_not_allow(tmp_path: Path) -> None:
    c = Cluster(tmp_path, ALL, as_of={"KOR": RELAY_DAY, "USA": BEFORE_TISA, "JPN": RELAY_DAY})
    result = deliver(c, "KOR", {"kind": "item", "item": item(c).text}, to="USA")
    assert "not allowed on 2014-06-01" in str(result["reason"]), result
    assert_refused(c, result, "relay KOR -> USA -> JPN not allowed on 2014-06-01", at="USA")


def held_awaiting(c: Cluster) -> tuple[Item, dict[str, Any]]:
    """KOR shared an item to JPN: USA holds it, KOR's consent request is open."""
    marking = tisa_marking("SECRET", topics=("nk-missile",))
    obj = indicator(marking["id"])

    async def go() -> None:
        await c.post("KOR", "to-JPN", marking, obj)
        await c.settle()
    c.run(go())
    with c["KOR"].exchange.store.engine.connect() as conn:
        text = conn.execute(select(exchange_sent.c.envelope).where(
            exchange_sent.c.item_id == obj["id"])).scalar_one()
    [request] = c["KOR"].exchange.store.consent_requests()
    it = Item(text=text, digest=parse_envelope(text).digest(), item_id=obj["id"],
              version=request["item_version"])
    assert request["envelope_sha256"] == it.digest
    return it, dict(request)


HUB_CONSENTS: dict[str, tuple[Callable[[Cluster, Item, str], str], str]] = {
    "signed-by-another-party": (
        lambda c, it, rid: consent_for(c, it, rid, signer="JPN"), "signature does not verify"),
    "for-an-unknown-request": (
        lambda c, it, rid: consent_for(c, it, str(uuid.uuid4())), "matches no item held at USA"),
    "naming-another-holder": (
        lambda c, it, rid: consent_for(c, it, rid, holder="GBR"), "matches no item held at USA"),
    "for-another-recipient": (
        lambda c, it, rid: consent_for(c, it, rid, recipient="GBR"),
        "matches no item held at USA"),
    "for-another-envelope": (
        lambda c, it, rid: consent_for(c, it, rid, envelope_sha256="ab" * 32),
        "matches no item held at USA"),
}


def consent_for(c: Cluster, it: Item, request_id: str, *, signer: str = "KOR",
                holder: str = "USA", recipient: str = "JPN",
                envelope_sha256: str | None = None) -> str:
    statement = ConsentStatement(
        request_id=request_id, originator="KOR", holder=holder, recipient=recipient,
        item_id=it.item_id, item_version=it.version,
        envelope_sha256=envelope_sha256 or it.digest, decision="approve",
        decided_at=now_text())
    return sign(statement, key(c, signer))


@pytest.mark.parametrize("case", sorted(HUB_CONSENTS))
def test_hub_refuses_a_bad_consent_and_keeps_waiting(relay_cluster: Cluster, case: str
                                                     ) -> None:
    c = relay_cluster
    it, request = held_awaiting(c)
    make, logged = HUB_CONSENTS[case]
    result = deliver(c, "KOR", {"kind": "consent", "consent": make(c, it, request["id"])},
                     to="USA")
    assert result["outcome"] == "refused", result
    assert any(logged in r for r in refused_reasons(c, "USA")), refused_reasons(c, "USA")
    c.run(c.settle())
    [held] = c["USA"].exchange.store.held_in_state("awaiting")  # not forwarded
    assert held["envelope_sha256"] == it.digest
    assert inbox(c, "JPN") == [] and received_rows(c, "JPN") == 0


def test_hub_control_the_genuine_consent_forwards(relay_cluster: Cluster) -> None:
    c = relay_cluster
    it, request = held_awaiting(c)
    result = deliver(c, "KOR", {"kind": "consent",
                                "consent": consent_for(c, it, request["id"])}, to="USA")
    assert result["outcome"] == "accepted", result
    c.run(c.settle())
    assert received_rows(c, "JPN") == 1


# --- onward sharing: JPN passes KOR's item to AUS ---------------------------------------


AUS = """
[parties.AUS]
name = "Australia"
levels = { CONFIDENTIAL = "CONFIDENTIAL", SECRET = "SECRET", "TOP SECRET" = "TOP SECRET" }
"""
JPN_AUS = """
[agreements.jpn-aus-isa]
kind = "bilateral"
parties = ["JPN", "AUS"]
max_level = "SECRET"
topics = ["*"]
in_force = 2012-05-17
"""


def four(tmp: Path) -> Cluster:
    head, sep, rest = NETWORK.read_text().partition("[agreements.")
    return Cluster(tmp, ("KOR", "USA", "JPN", "AUS"), network=head + AUS + sep + rest + JPN_AUS)


ONWARD: dict[str, tuple[Callable[[Cluster, Item], str], str]] = {
    "signed-by-the-holder": (lambda c, it: consent(c, it, signer="JPN", holder="JPN",
                                                   recipient="AUS"),
                             "signature does not verify"),
    "for-another-recipient": (lambda c, it: consent(c, it, holder="JPN", recipient="GBR"),
                              "consent does not approve this onward share"),
    "for-another-holder": (lambda c, it: consent(c, it, holder="USA", recipient="AUS"),
                           "consent does not approve this onward share"),
    "for-another-envelope": (lambda c, it: consent(c, it, holder="JPN", recipient="AUS",
                                                   envelope_sha256="ab" * 32),
                             "consent does not approve this onward share"),
    "denied": (lambda c, it: consent(c, it, holder="JPN", recipient="AUS", decision="deny"),
               "consent does not approve this onward share"),
}


@pytest.mark.parametrize("case", [*sorted(ONWARD), "genuine"])
def test_onward_share_with_a_bad_consent_is_refused(tmp_path: Path, case: str) -> None:
    c = four(tmp_path)
    it = item(c, path=("KOR", "JPN"))  # KOR's item as JPN received it
    if case == "genuine":  # the control
        agreed = consent(c, it, holder="JPN", recipient="AUS")
        result = deliver(c, "JPN", {"kind": "item", "item": it.text, "consent": agreed},
                         to="AUS")
        assert result["outcome"] == "received", result
        return
    make, logged = ONWARD[case]
    result = deliver(c, "JPN", {"kind": "item", "item": it.text, "consent": make(c, it)},
                     to="AUS")
    assert_refused(c, result, logged, at="AUS")
