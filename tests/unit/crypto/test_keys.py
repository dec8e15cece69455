"""public_key_bytes: the raw key, kept per key object for verification's repeated asks."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.crypto.keys import public_key_bytes

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def test_raw_bytes_of_each_key_and_kept_per_key_object() -> None:
    a, b = Ed25519PrivateKey.generate().public_key(), Ed25519PrivateKey.generate().public_key()
    first = public_key_bytes(a)
    assert first == a.public_bytes(*RAW) and len(first) == 32
    assert public_key_bytes(a) is first  # asked again: not serialized again
    assert public_key_bytes(b) == b.public_bytes(*RAW) != first


def test_a_second_object_of_the_same_key_gives_the_same_bytes() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    again = Ed25519PublicKey.from_public_bytes(key.public_bytes(*RAW))
    assert public_key_bytes(again) == public_key_bytes(key)


def test_keys_made_by_the_thousand_are_all_answered_right() -> None:
    keys = [Ed25519PrivateKey.generate().public_key() for _ in range(600)]
    assert [public_key_bytes(k) for k in keys] == [k.public_bytes(*RAW) for k in keys]
