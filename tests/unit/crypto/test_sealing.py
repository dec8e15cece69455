"""HPKE sealing to a recipient, and X25519 sealing keys."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.crypto import sealing
from tisa.crypto.keys import generate_signing_key, load_private_key, save_private_key
from tisa.crypto.sealing import (
    SEALED_OVERHEAD,
    format_seal_public_key,
    generate_seal_key,
    load_seal_key,
    open_sealed,
    parse_seal_public_key,
    save_seal_key,
    seal,
    seal_info,
)
from tisa.errors import ConfigError, InvalidInput, VerificationError

JPN = generate_seal_key()
HEADER = b'{"originator":"KOR","recipient":"JPN","type":"tisa.item/v1"}'


@settings(max_examples=40)
@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=512))
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    sealed = seal(plaintext, JPN.public_key(), recipient="JPN", aad=aad)
    assert len(sealed) == len(plaintext) + SEALED_OVERHEAD
    assert open_sealed(sealed, JPN, recipient="JPN", aad=aad) == plaintext


def test_each_seal_is_fresh() -> None:
    a = seal(b"same", JPN.public_key(), recipient="JPN", aad=HEADER)
    b = seal(b"same", JPN.public_key(), recipient="JPN", aad=HEADER)
    assert a != b


def _refused(
    sealed: bytes, *, key: X25519PrivateKey = JPN, recipient: str = "JPN", aad: bytes = HEADER
) -> str:
    with pytest.raises(VerificationError) as caught:
        open_sealed(sealed, key, recipient=recipient, aad=aad)
    assert str(caught.value) == "sealed item did not open"
    return caught.value.detail


def test_wrong_recipient_key_fails() -> None:
    sealed = seal(b"secret", JPN.public_key(), recipient="JPN", aad=HEADER)
    assert "wrong key" in _refused(sealed, key=generate_seal_key())


def test_aad_mismatch_fails() -> None:
    sealed = seal(b"secret", JPN.public_key(), recipient="JPN", aad=HEADER)
    _refused(sealed, aad=HEADER.replace(b"JPN", b"AUS"))
    _refused(sealed, aad=b"")


def test_other_recipient_code_fails() -> None:
    # A recipient cannot re-wrap and pass off an item sealed for someone else.
    sealed = seal(b"secret", JPN.public_key(), recipient="JPN", aad=HEADER)
    _refused(sealed, recipient="AUS")


@settings(max_examples=60)
@given(data=st.data())
def test_any_flipped_byte_fails(data: st.DataObject) -> None:
    sealed = seal(b"secret item body", JPN.public_key(), recipient="JPN", aad=HEADER)
    i = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = sealed[:i] + bytes([sealed[i] ^ (1 << bit)]) + sealed[i + 1 :]
    _refused(tampered)


def test_truncated_fails() -> None:
    sealed = seal(b"", JPN.public_key(), recipient="JPN", aad=HEADER)
    assert "shorter" in _refused(sealed[:-1])
    _refused(b"")


def test_info_is_unambiguous() -> None:
    assert seal_info("JPN", b"") != seal_info("JP", b"N")
    assert seal_info("JPN", HEADER).startswith(b"tisa sealed item v1 3 JPN ")
    with pytest.raises(InvalidInput):
        seal(b"x", JPN.public_key(), recipient="", aad=HEADER)


def test_public_key_text_round_trip_and_errors() -> None:
    text = format_seal_public_key(JPN.public_key())
    assert text.startswith("x25519:")
    assert parse_seal_public_key(text) == JPN.public_key()
    for bad, message in [
        ("ed25519:" + text[7:], "must start with"),
        ("x25519:not base64!", "not valid base64"),
        ("x25519:" + base64.b64encode(b"short").decode(), "5 bytes"),
        ("x25519:" + base64.b64encode(bytes(32)).decode(), "not a usable"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_seal_public_key(bad)


def test_private_key_files_are_0600_and_load(tmp_path: Path) -> None:
    seal_path, sign_path = tmp_path / "seal.pem", tmp_path / "sign.pem"
    save_seal_key(JPN, seal_path)
    signing = generate_signing_key()
    save_private_key(signing, sign_path)
    for path in (seal_path, sign_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_seal_key(seal_path)
    sealed = seal(b"x", JPN.public_key(), recipient="JPN", aad=b"")
    assert open_sealed(sealed, loaded, recipient="JPN", aad=b"") == b"x"
    assert load_private_key(sign_path).public_key() == signing.public_key()


def test_save_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    save_seal_key(JPN, path)
    with pytest.raises(FileExistsError):
        save_seal_key(generate_seal_key(), path)


def test_load_refuses_readable_or_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "seal.pem"
    save_seal_key(JPN, path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_seal_key(path)
    signing_path = tmp_path / "sign.pem"
    save_private_key(generate_signing_key(), signing_path)
    with pytest.raises(ConfigError, match="not an X25519 key"):
        load_seal_key(signing_path)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_private_key(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_seal_key(tmp_path / "missing.pem")


def test_all_is_complete() -> None:
    mine = {
        n
        for n, v in vars(sealing).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == sealing.__name__
    }
    assert mine <= set(sealing.__all__)
