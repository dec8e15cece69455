"""The naming convention peers rely on: a party's log and witness keys from its public key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.errors import InvalidInput
from tisa.ledger.cosignature import CosignatureV1Verifier
from tisa.ledger.log_names import (
    log_origin,
    log_verifier,
    log_verifiers_by_origin,
    witness_name,
    witness_verifier,
)
from tisa.ledger.note import Ed25519Verifier, parse_verifier_key_parts


def test_names_follow_the_convention() -> None:
    assert log_origin("KOR") == "tisa.kor/log"
    assert witness_name("US-ARMY:1") == "tisa.us-army:1/witness"


def test_verifier_keys_round_trip_and_differ_by_role() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    note = log_verifier("KOR", key)
    cosig = witness_verifier("KOR", key)
    name, key_id, sig_type, _ = parse_verifier_key_parts(note.verifier_key)
    assert (name, sig_type, key_id) == ("tisa.kor/log", 0x01, note.key_id)
    assert note.verifier_key.startswith("tisa.kor/log+" + note.key_id.hex() + "+")
    assert Ed25519Verifier.from_verifier_key(note.verifier_key) == note
    assert CosignatureV1Verifier.from_verifier_key(cosig.verifier_key) == cosig
    assert note.key_id != cosig.key_id


def test_codes_that_differ_only_in_case_are_refused() -> None:
    k = Ed25519PrivateKey.generate().public_key()
    assert list(log_verifiers_by_origin([("KOR", k), ("JPN", k)])) == ["tisa.kor/log",
                                                                        "tisa.jpn/log"]
    with pytest.raises(InvalidInput):
        log_verifiers_by_origin([("KOR", k), ("kor", k)])
