"""The typed parser of peer messages: what each kind takes, and what it refuses (with the
field named), whatever JSON a peer signs."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tisa.errors import InvalidInput
from tisa.exchange.messages import (
    MAX_REASON,
    ConsentRequestMessage,
    DroppedMessage,
    ItemMessage,
    ReceiptMessage,
    bounded_reason,
    check_reason,
    parse_message,
)

REQUEST: dict[str, Any] = {
    "kind": "consent-request", "request_id": "5d0c8f53-1c1e-4c4b-9a55-3c3f5e0b2d11",
    "envelope_sha256": "a" * 64, "item_id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "item_version": "2026-11-01T00:00:00.000Z", "recipient": "USA",
    "requested_at": "2026-01-01T00:00:00.123456Z", "expires_at": "2026-01-08T09:00:00+09:00",
}


def test_well_formed_messages_parse() -> None:
    request = parse_message(REQUEST)
    assert isinstance(request, ConsentRequestMessage)
    assert request.expires_us - request.requested_us == pytest.approx(
        7 * 86400 * 1_000_000 - 123456, abs=1)
    assert parse_message({"kind": "item", "item": "{}"}) == ItemMessage(item="{}")
    assert parse_message({"kind": "dropped", "envelope_sha256": "b" * 64}) == DroppedMessage(
        envelope_sha256="b" * 64, reason="")


@pytest.mark.parametrize(("changes", "message"), [
    ({"kind": "gossip"}, "kind 'gossip' is not one of"),
    ({"kind": None}, "kind None is not one of"),
    ({"requested_at": "2026-01-01T00:00:00"}, "requested_at: .* is not an RFC 3339 time"),
    ({"requested_at": "2026-02-30T00:00:00Z"}, "requested_at: .* is not a valid date"),
    ({"requested_at": "0001-01-01T00:00:00+01:00"}, "requested_at: .* is not a valid date"),
    ({"expires_at": "2026-01-01T00:00:00Z"}, "expires_at: .* is not after requested_at"),
    ({"request_id": "5D0C8F53-1C1E-4C4B-9A55-3C3F5E0B2D11"}, "request_id: .* is not a UUID"),
    ({"request_id": "x" * 10_000}, "request_id: 10000 characters; at most 36"),
    ({"envelope_sha256": None}, "envelope_sha256: must be a string, not null"),
    ({"item_id": "x" * 300}, "item_id: 300 characters"),
    ({"item_version": ""}, "item_version: must not be empty"),
    ({"item_version": "v\x00"}, "item_version: contains control characters"),
    ({"recipient": "usa"}, "recipient: 'usa' is not a party code"),
    ({"recipient": True}, "recipient: must be a string, not a boolean"),
    ({"extra": 1, "more": 2}, r"unknown field\(s\) 'extra', 'more'"),
])
def test_malformed_consent_requests_name_the_field(changes: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_message({**REQUEST, **changes})


def test_other_kinds_check_their_fields() -> None:
    with pytest.raises(InvalidInput, match=r"item message: missing field\(s\) item"):
        parse_message({"kind": "item"})
    with pytest.raises(InvalidInput, match="item message: relay: must be a string, not a list"):
        parse_message({"kind": "item", "item": "{}", "relay": []})
    with pytest.raises(InvalidInput, match="consent message: consent: must be DSSE"):
        parse_message({"kind": "consent", "consent": ""})
    with pytest.raises(InvalidInput, match="receipt: must be a string, not a number"):
        parse_message({"kind": "receipt", "receipt": 1})
    for not_a_proof in ("", "{}", '{"payloadType": "application/vnd.tisa.receipt+json"}',
                        "c2sp.org/tlog-proof@v1"):  # a receipt is a tlog-proof's text
        with pytest.raises(InvalidInput,
                           match="receipt message: receipt: must be tlog-proof text"):
            parse_message({"kind": "receipt", "receipt": not_a_proof})
    proof = "c2sp.org/tlog-proof@v1\nindex 0\n\nnote"
    assert parse_message({"kind": "receipt", "receipt": proof}) == ReceiptMessage(receipt=proof)
    with pytest.raises(InvalidInput, match=f"reason: {MAX_REASON + 1} characters"):
        parse_message({"kind": "dropped", "envelope_sha256": "b" * 64,
                       "reason": "x" * (MAX_REASON + 1)})


def test_reasons_are_bounded() -> None:
    assert check_reason("no\nthanks") == "no\nthanks"
    with pytest.raises(InvalidInput, match="reason: must be a string, not an object"):
        check_reason({"a": 1})
    assert len(bounded_reason("x" * 5000)) == MAX_REASON
    assert check_reason(bounded_reason("x" * 5000))


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@given(st.sampled_from(["item", "consent-request", "consent", "receipt", "dropped"]),
       st.dictionaries(st.sampled_from(sorted({*REQUEST, "item", "relay", "consent",
                                                "receipt", "reason", "x"})), _JSON,
                       max_size=9))
def test_any_json_parses_or_raises_invalid_input(kind: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidInput):  # never another exception
        parse_message({**fields, "kind": kind})
