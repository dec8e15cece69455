"""DSSE envelopes: known answers, round trips, tampering, relays."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.crypto import dsse
from tisa.crypto._encoding import canonical_json
from tisa.crypto.dsse import (
    Envelope,
    Signature,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from tisa.errors import InvalidInput, VerificationError

ITEM_TYPE = "application/vnd.tisa.item+json"
KOR = Ed25519PrivateKey.generate()
JPN = Ed25519PrivateKey.generate()
TRUSTED = {"KOR": KOR.public_key(), "JPN": JPN.public_key()}

# RFC 8032 section 7.1, TEST 1 (deterministic Ed25519, so signatures are known answers).
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
INTOTO_BODY = b'{"_type":"https://in-toto.io/Statement/v1"}'
INTOTO_SIG = (
    "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
)


def test_pae_matches_the_dsse_protocol_example() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_utf8_bytes_and_keeps_the_space_before_an_empty_body() -> None:
    assert (
        pae("application/vnd.exämple+json", b"")
        == b"DSSEv1 29 application/vnd.ex\xc3\xa4mple+json 0 "
    )


def test_ed25519_known_answer_over_pae() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    envelope = sign_envelope("application/vnd.in-toto+json", INTOTO_BODY, key, "A")
    assert base64.b64encode(envelope.signatures[0].sig).decode() == INTOTO_SIG
    verified = verify_envelope(
        envelope, {"A": key.public_key()}, payload_type="application/vnd.in-toto+json"
    )
    assert verified.payload == INTOTO_BODY


def test_url_safe_base64_envelope_is_accepted() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    wire = json.dumps(
        {
            "payload": base64.urlsafe_b64encode(b"\xfb\xff\xbf>?").decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [
                {
                    "keyid": "A",
                    "sig": base64.urlsafe_b64encode(
                        key.sign(pae("application/vnd.in-toto+json", b"\xfb\xff\xbf>?"))
                    ).decode(),
                }
            ],
        }
    )
    assert "-" in wire or "_" in wire
    verified = verify_envelope(
        parse_envelope(wire), {"A": key.public_key()}, payload_type="application/vnd.in-toto+json"
    )
    assert verified.payload == b"\xfb\xff\xbf>?"


@settings(max_examples=50)
@given(payload=st.binary(max_size=2048), type_suffix=st.text(min_size=1, max_size=20))
def test_round_trip_through_json(payload: bytes, type_suffix: str) -> None:
    payload_type = ITEM_TYPE + type_suffix
    envelope = sign_envelope(payload_type, payload, KOR, "KOR")
    parsed = parse_envelope(envelope.to_json())
    assert parsed == envelope
    verified = verify_envelope(parsed, TRUSTED, payload_type=payload_type)
    assert verified.payload == payload
    assert verified.keyids == ("KOR",)
    assert verified.digest == envelope.digest()


def test_signature_survives_re_serialization_by_a_relay() -> None:
    payload = b'{"content":{"type":"bundle"},"recipient":"JPN"}'
    original = sign_envelope(ITEM_TYPE, payload, KOR, "KOR")
    # The hub parses and re-emits the envelope in its own layout and alphabet.
    obj = json.loads(original.to_json())
    obj["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    relayed_wire = json.dumps(dict(reversed(list(obj.items()))), indent=2)
    assert relayed_wire.encode() != original.to_json()
    at_hub = verify_envelope(parse_envelope(relayed_wire), TRUSTED, payload_type=ITEM_TYPE)
    # ... and passes on the exact bytes it verified; the recipient checks KOR's signature.
    onward = Envelope(
        payload_type=at_hub.payload_type, payload=at_hub.payload, signatures=original.signatures
    )
    at_recipient = verify_envelope(
        parse_envelope(onward.to_json()), {"KOR": KOR.public_key()}, payload_type=ITEM_TYPE
    )
    assert at_recipient.payload == payload
    assert at_recipient.digest == original.digest()


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@settings(max_examples=60)
@given(data=st.data())
def test_any_flipped_byte_fails(data: st.DataObject) -> None:
    envelope = sign_envelope(ITEM_TYPE, b'{"item":"bundle--1","recipient":"JPN"}', KOR, "KOR")
    sig = envelope.signatures[0].sig
    part = data.draw(st.sampled_from(["payload", "sig", "payloadType"]))
    if part == "payload":
        i = data.draw(st.integers(0, len(envelope.payload) - 1))
        tampered = Envelope(
            payload_type=ITEM_TYPE,
            payload=_flip(envelope.payload, i),
            signatures=envelope.signatures,
        )
    elif part == "sig":
        i = data.draw(st.integers(0, len(sig) - 1))
        tampered = Envelope(
            payload_type=ITEM_TYPE,
            payload=envelope.payload,
            signatures=(Signature(keyid="KOR", sig=_flip(sig, i)),),
        )
    else:
        raw = ITEM_TYPE.encode()
        i = data.draw(st.integers(0, len(raw) - 1))
        flipped = _flip(raw, i).decode()
        tampered = Envelope(
            payload_type=flipped, payload=envelope.payload, signatures=envelope.signatures
        )
        with pytest.raises(VerificationError):
            verify_envelope(tampered, TRUSTED, payload_type=flipped)
    with pytest.raises(VerificationError) as caught:
        verify_envelope(tampered, TRUSTED, payload_type=ITEM_TYPE)
    assert str(caught.value) == "envelope did not verify"
    assert caught.value.detail


def test_wrong_key_fails_with_one_opaque_message() -> None:
    envelope = sign_envelope(ITEM_TYPE, b"x", Ed25519PrivateKey.generate(), "KOR")
    with pytest.raises(VerificationError) as caught:
        verify_envelope(envelope, TRUSTED, payload_type=ITEM_TYPE)
    assert str(caught.value) == "envelope did not verify"
    assert "does not verify" in caught.value.detail


def test_untrusted_keyid_and_wrong_type_fail() -> None:
    envelope = sign_envelope(ITEM_TYPE, b"x", KOR, "KOR")
    with pytest.raises(VerificationError, match="envelope did not verify") as caught:
        verify_envelope(envelope, {"JPN": JPN.public_key()}, payload_type=ITEM_TYPE)
    assert "not a trusted key" in caught.value.detail
    with pytest.raises(VerificationError) as caught:
        verify_envelope(envelope, TRUSTED, payload_type="application/vnd.tisa.relay+json")
    assert "payloadType" in caught.value.detail


def test_signer_cannot_claim_another_keyid() -> None:
    # JPN signs but labels the signature "KOR": the keyid only selects a key.
    envelope = sign_envelope(ITEM_TYPE, b"x", JPN, "KOR")
    with pytest.raises(VerificationError):
        verify_envelope(envelope, TRUSTED, payload_type=ITEM_TYPE)


def test_threshold_counts_distinct_keys_and_missing_keyid_tries_all() -> None:
    one = sign_envelope(ITEM_TYPE, b"x", KOR, "KOR")
    twice = dsse.add_signature(one, KOR, "KOR")
    with pytest.raises(VerificationError):
        verify_envelope(twice, TRUSTED, payload_type=ITEM_TYPE, threshold=2)
    both = dsse.add_signature(one, JPN, "")
    verified = verify_envelope(both, TRUSTED, payload_type=ITEM_TYPE, threshold=2)
    assert set(verified.keyids) == {"KOR", "JPN"}
    with pytest.raises(ValueError, match="threshold"):
        verify_envelope(one, TRUSTED, payload_type=ITEM_TYPE, threshold=0)


def test_empty_trust_set_never_verifies() -> None:
    with pytest.raises(VerificationError):
        verify_envelope(sign_envelope(ITEM_TYPE, b"x", KOR, "KOR"), {}, payload_type=ITEM_TYPE)


GOOD = {"payload": "eA==", "payloadType": ITEM_TYPE, "signatures": [{"keyid": "K", "sig": "eA=="}]}


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\xff", "not UTF-8"),
        ("[]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"payload":"eA==","payload":"eA==","payloadType":"t","signatures":[]}', "duplicate"),
        (json.dumps({**GOOD, "extra": 1}), "unknown field"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "payload"}), "missing payload"),
        (json.dumps({**GOOD, "payloadType": ""}), "payloadType"),
        (json.dumps({**GOOD, "payloadType": 7}), "payloadType"),
        (json.dumps({**GOOD, "payload": "e A="}), "not valid base64"),
        (json.dumps({**GOOD, "payload": "eB=="}), "non-canonical"),
        (json.dumps({**GOOD, "payload": "+-=="}), "mixes"),
        (json.dumps({**GOOD, "payload": "eA="}), "padding"),
        (json.dumps({**GOOD, "payload": 12}), "base64 string"),
        (json.dumps({**GOOD, "signatures": []}), "non-empty list"),
        (json.dumps({**GOOD, "signatures": [{"sig": ""}]}), "sig is empty"),
        (json.dumps({**GOOD, "signatures": [{"sig": "eA==", "keyid": 1}]}), "keyid"),
        (json.dumps({**GOOD, "signatures": [{"sig": "eA==", "key": "K"}]}), "unknown field"),
        (json.dumps({**GOOD, "signatures": [{"keyid": "K"}]}), "missing sig"),
        (json.dumps({**GOOD, "signatures": [{"sig": "eA=="}] * 9}), "more than 8"),
        ('{"payload":NaN}', "not valid JSON"),
    ],
)
def test_malformed_envelopes_are_invalid_input(wire: str | bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_envelope(wire)


def test_unpadded_base64_is_accepted() -> None:
    assert parse_envelope(json.dumps({**GOOD, "payload": "eA"})).payload == b"x"


def test_sign_refuses_empty_type_or_keyid() -> None:
    with pytest.raises(InvalidInput):
        sign_envelope("", b"x", KOR, "KOR")
    with pytest.raises(InvalidInput):
        sign_envelope(ITEM_TYPE, b"x", KOR, "")


def test_digest_ignores_signatures_and_layout() -> None:
    a = sign_envelope(ITEM_TYPE, b"x", KOR, "KOR")
    b = dsse.add_signature(a, JPN, "JPN")
    assert a.digest() == b.digest() != sign_envelope(ITEM_TYPE, b"y", KOR, "KOR").digest()


def test_all_is_complete() -> None:
    public = {n for n in vars(dsse) if not n.startswith("_") and n != "annotations"}
    defined_here = {
        n for n in public if getattr(getattr(dsse, n), "__module__", None) == dsse.__name__
    }
    assert defined_here <= set(dsse.__all__)


@settings(max_examples=200)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_envelope_on_garbage_raises_only_invalid_input(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        parse_envelope(data)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200)
@given(
    obj=st.fixed_dictionaries(
        {},
        optional={
            "payload": json_like | st.just("eA=="),
            "payloadType": json_like | st.just(ITEM_TYPE),
            "signatures": json_like | st.just([{"keyid": "KOR", "sig": "eA=="}]),
        },
    )
)
def test_parse_envelope_on_odd_json_raises_only_invalid_input(obj: dict[str, object]) -> None:
    try:
        envelope = parse_envelope(json.dumps(obj))
    except InvalidInput:
        return
    with pytest.raises(VerificationError):
        verify_envelope(envelope, TRUSTED, payload_type=ITEM_TYPE)


@settings(max_examples=50)
@given(payload=st.binary(max_size=512), payload_type=st.text(min_size=1, max_size=20),
       keyids=st.lists(st.text(max_size=8), min_size=1, max_size=3))
def test_envelope_json_is_the_canonical_json_of_its_object(
        payload: bytes, payload_type: str, keyids: list[str]) -> None:
    envelope = dsse.Envelope(payload_type=payload_type, payload=payload, signatures=tuple(
        dsse.Signature(keyid=k, sig=bytes([n + 1]) * 64) for n, k in enumerate(keyids)))
    try:
        expected = canonical_json(envelope.to_json_object())
    except InvalidInput:  # a lone surrogate: refused alike
        with pytest.raises(InvalidInput):
            envelope.to_json()
        return
    assert envelope.to_json() == expected
    assert parse_envelope(envelope.to_json()) == envelope
