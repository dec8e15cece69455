"""Signed statements: canonical bytes, strict parsing, sealed items."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.crypto import items, signed, statements
from tisa.crypto.items import ItemStatement, item_content, new_item_statement
from tisa.crypto.sealing import generate_seal_key
from tisa.crypto.statements import (
    ConsentStatement,
    RelayStatement,
    Statement,
    sha256_hex,
)
from tisa.errors import InvalidInput, VerificationError

BUNDLE_ID = "bundle--6f0b6d2c-1a9e-4c1e-9d7a-2b3c4d5e6f70"
BUNDLE: dict[str, Any] = {
    "type": "bundle",
    "id": BUNDLE_ID,
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--0c5a1f8e-3b2d-4e6f-8a9b-1c2d3e4f5a6b",
            "name": "Hwasong launch site activity",
            "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix",
            "valid_from": "2019-08-23T00:00:00Z",
            "confidence": 85,
        }
    ],
}
DIGEST = "a" * 64


def item(**changes: Any) -> ItemStatement:
    fields: dict[str, Any] = {
        "originator": "KOR",
        "recipient": "JPN",
        "path": ("KOR", "JPN"),
        "item_id": BUNDLE_ID,
        "item_version": "2019-08-23T00:00:00.000Z",
        "level": "SECRET",
        "topics": ("nk-missile",),
        "created": "2019-09-02T10:00:00Z",
        "content": BUNDLE,
        "nonce": "0123456789abcdef0123456789abcdef",
    }
    fields.update(changes)
    return new_item_statement(**fields)


def consent(**changes: Any) -> ConsentStatement:
    fields: dict[str, Any] = {
        "request_id": "consent-1",
        "originator": "KOR",
        "holder": "USA",
        "recipient": "JPN",
        "item_id": BUNDLE_ID,
        "item_version": "1",
        "envelope_sha256": DIGEST,
        "decision": "approve",
        "decided_at": "2019-09-02T10:05:00.123Z",
    }
    return ConsentStatement(**{**fields, **changes})


def relay(**changes: Any) -> RelayStatement:
    fields: dict[str, Any] = {
        "hub": "USA",
        "originator": "KOR",
        "recipient": "JPN",
        "envelope_sha256": DIGEST,
        "item_id": BUNDLE_ID,
        "item_version": "1",
        "agreement_id": "tisa-2014",
        "relayed_on": "2019-09-02",
        "consent_sha256": "b" * 64,
    }
    return RelayStatement(**{**fields, **changes})


ALL = [
    item(),
    item(path=("KOR", "USA", "JPN"), rel_to=("JPN", "USA", "KOR"), consent_to=("JPN",)),
    consent(),
    consent(decision="deny", reason="not for onward release"),
    relay(),
    relay(consent_sha256=None),
]


@pytest.mark.parametrize("statement", ALL, ids=lambda s: type(s).__name__)
def test_canonical_bytes_round_trip(statement: Statement) -> None:
    data = statement.to_bytes()
    assert type(statement).from_bytes(data) == statement
    obj = json.loads(data)
    assert data == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    assert (obj["type"], obj["version"]) == (statement.TYPE, 1)
    assert "null" not in data.decode()


@pytest.mark.parametrize("statement", ALL, ids=lambda s: type(s).__name__)
def test_non_canonical_text_is_refused(statement: Statement) -> None:
    obj = json.loads(statement.to_bytes())
    for text in (json.dumps(obj), json.dumps(obj, sort_keys=True, indent=1)):
        with pytest.raises(InvalidInput, match="canonical"):
            type(statement).from_bytes(text.encode())


json_leaf = (
    st.text(st.characters(codec="utf-8"), max_size=12)
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.booleans()
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60)
@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4),
    topics=st.lists(st.sampled_from(["nk-missile", "nk-nuclear", "cyber"]), min_size=1),
)
def test_item_round_trip_any_content(extra: dict[str, Any], topics: list[str]) -> None:
    statement = item(content={**extra, "id": BUNDLE_ID, "type": "bundle"}, topics=tuple(topics))
    assert statement.topics == tuple(sorted(set(topics)))
    assert ItemStatement.from_bytes(statement.to_bytes()) == statement


def _mutated(statement: Statement, **changes: Any) -> bytes:
    obj = json.loads(statement.to_bytes())
    for key, value in changes.items():
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 1}, "unknown field"),
        ({"nonce": ...}, "missing nonce"),
        ({"type": "tisa.relay"}, "expected 'tisa.item'"),
        ({"version": 2}, "version 2"),
        ({"version": True}, "version True"),
        ({"originator": 7}, "originator must be a string"),
        ({"originator": "kor"}, "party code"),
        ({"topics": "nk-missile"}, "list of strings"),
        ({"topics": ["has space"]}, "topic label"),
        ({"level": "SECRETISH"}, "not one of"),
        ({"level": "극비"}, "not one of"),
        ({"path": ["KOR"]}, "two or more"),
        ({"path": ["USA", "JPN"]}, "from the originator"),
        ({"path": ["KOR", "KOR", "JPN"]}, "distinct"),
        ({"item_id": "bundle-1"}, "STIX identifier"),
        ({"item_version": ""}, "non-empty"),
        ({"item_version": "v" * 65}, "65 characters; at most 64"),
        ({"item_id": "x" * 251 + "--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "at most 288"),
        ({"created": "2019-09-02T10:00:00+09:00"}, "RFC 3339"),
        ({"created": "2019-02-30T10:00:00Z"}, "RFC 3339"),
        ({"nonce": "ABC"}, "hex"),
        ({"content_sha256": "0" * 64}, "SHA-256 of the canonical content"),
        ({"content": [1]}, "JSON object"),
        ({"content": {"x": 1.5}}, "floats"),
        ({"content": {"x": None}}, "null"),
        ({"content": {"x": 2**60}}, "2\\*\\*53"),
        ({"content": ...}, "exactly one of content and sealed"),
        ({"sealed": "AAAA"}, "exactly one of content and sealed"),
        ({"rel_to": ["KOR", "USA"]}, "recipient JPN is not in rel_to"),
    ],
)
def test_item_strictness(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ItemStatement.from_bytes(_mutated(item(), **changes))


def test_duplicate_keys_and_bad_json_are_refused() -> None:
    data = item().to_bytes()
    with pytest.raises(InvalidInput, match="duplicate"):
        ItemStatement.from_bytes(data[:-1] + b',"version":1}')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        ItemStatement.from_bytes(b'{"x":NaN}')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        ItemStatement.from_bytes(b"\xff")


def test_hub_outside_rel_to_needs_a_sealed_item() -> None:
    args: dict[str, Any] = {"path": ("KOR", "USA", "JPN"), "rel_to": ("KOR", "JPN")}
    with pytest.raises(InvalidInput, match="must be sealed"):
        item(**args)
    jpn = generate_seal_key()
    sealed = item(**args, seal_to=jpn.public_key())
    assert sealed.content is None
    assert item_content(sealed, jpn) == BUNDLE


@pytest.mark.parametrize(
    ("make", "changes", "message"),
    [
        (consent, {"holder": "KOR"}, "three different parties"),
        (consent, {"decision": "maybe"}, "'approve' or 'deny'"),
        (consent, {"envelope_sha256": "A" * 64}, "hex"),
        (relay, {"relayed_on": "2019-9-2"}, "date like"),
        (relay, {"relayed_on": "2019-02-29"}, "date like"),
        (relay, {"hub": "JPN"}, "three different parties"),
        (relay, {"consent_sha256": "x"}, "hex"),
        (relay, {"agreement_id": ""}, "agreement id"),
        (relay, {"agreement_id": "TISA 2014"}, "agreement id"),
        (consent, {"decided_at": "yesterday"}, "RFC 3339"),
        (consent, {"recipient": "J P N"}, "party code"),
    ],
)
def test_other_statements_check_their_fields(
    make: Any, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make(**changes)


def test_parsing_other_statements_is_strict() -> None:
    with pytest.raises(InvalidInput, match="unknown field"):
        ConsentStatement.from_bytes(_mutated(consent(), approved=True))
    with pytest.raises(InvalidInput, match="'approve' or 'deny'"):
        ConsentStatement.from_bytes(_mutated(consent(), decision="yes"))
    with pytest.raises(InvalidInput, match="canonical"):  # an empty reason is left out
        ConsentStatement.from_bytes(_mutated(consent(), reason=""))
    with pytest.raises(InvalidInput, match="missing relayed_on"):
        RelayStatement.from_bytes(_mutated(relay(), relayed_on=...))
    with pytest.raises(InvalidInput, match="consent_sha256 must be a string"):
        RelayStatement.from_bytes(_mutated(relay(), consent_sha256=["x"]))
    assert consent(decision="deny").approved is False


def test_sealed_item_hides_the_content_and_binds_the_header() -> None:
    jpn, aus = generate_seal_key(), generate_seal_key()
    sealed = item(path=("KOR", "USA", "JPN"), seal_to=jpn.public_key())
    wire = sealed.to_bytes()
    assert b"Hwasong" not in wire
    assert sealed.content_sha256 == item().content_sha256
    parsed = ItemStatement.from_bytes(wire)
    assert item_content(parsed, jpn) == BUNDLE
    with pytest.raises(VerificationError, match="sealed item did not open"):
        item_content(parsed, aus)
    with pytest.raises(VerificationError):  # same seal under another header
        item_content(replace(parsed, level="CONFIDENTIAL"), jpn)
    with pytest.raises(InvalidInput, match="needs the sealing key"):
        item_content(parsed)


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize("module", [statements, items, signed])
def test_all_is_complete(module: Any) -> None:
    mine = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
    }
    assert mine <= set(module.__all__)
    assert all(hasattr(module, n) for n in module.__all__)


def test_lone_surrogates_and_deep_nesting_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        item(content={**BUNDLE, "name": "\ud800"})
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        ItemStatement.from_bytes(item().to_bytes().replace(b'"name":', b'"name\\ud800":'))
    deep: Any = "x"
    for _ in range(80):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested deeper"):
        item(content={**BUNDLE, "deep": deep})


def test_text_fields_refuse_lone_surrogates() -> None:
    with pytest.raises(InvalidInput, match="reason: string is not valid Unicode"):
        consent(decision="deny", reason="\udc80")


odd_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150)
@given(
    kind=st.sampled_from([ItemStatement, ConsentStatement, RelayStatement]),
    data=st.data(),
)
def test_from_bytes_on_odd_json_raises_only_invalid_input(kind: Any, data: st.DataObject) -> None:
    good = json.loads(ALL[[type(s) for s in ALL].index(kind)].to_bytes())
    obj = {**good, **data.draw(st.dictionaries(st.sampled_from(sorted(good)), odd_json))}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with contextlib.suppress(InvalidInput):
        kind.from_bytes(text.encode("utf-8", "surrogatepass"))


def test_codes_and_ids_follow_the_network_file() -> None:
    from tisa.agreements import network_file
    from tisa.crypto import _statement_base as base

    assert base.CODE_PATTERN.pattern == network_file.PARTY_CODE.pattern
    assert base.AGREEMENT_PATTERN.pattern == network_file.AGREEMENT_ID.pattern
