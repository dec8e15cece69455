"""Sealing an item to its final recipient with HPKE (RFC 9180), for relays
whose hub must not read (``hub_reads = false``).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode,
single shot, as ``cryptography``'s ``hpke.Suite`` implements it. The sealed
bytes are ``enc (32 bytes) || AEAD ciphertext (plaintext + 16-byte tag)``.

``cryptography``'s public single-shot API takes ``info`` but no AAD, and
RFC 9180 section 8.1 says single-shot users put auxiliary authenticated data
in ``info``. So ``info`` binds, unambiguously:

    "tisa sealed item v1" SP LEN(recipient) SP recipient SP SHA-256(aad)

where ``aad`` is the signed header (``ItemStatement.header_bytes()``). Opening
with another recipient code, another header, another key, or tampered bytes
fails with ``VerificationError("sealed item did not open")``.

Sealing keys are X25519 and separate from the Ed25519 signing key; public
keys travel as ``x25519:<base64 of the 32 raw bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from tisa.crypto.keys import load_private_pem, private_key_pem, write_secret_file
from tisa.errors import ConfigError, InvalidInput, VerificationError

__all__ = [
    "SEALED_OVERHEAD",
    "SEAL_INFO_LABEL",
    "SEAL_KEY_PREFIX",
    "format_seal_public_key",
    "generate_seal_key",
    "load_seal_key",
    "open_sealed",
    "parse_seal_public_key",
    "save_seal_key",
    "seal",
    "seal_info",
    "seal_public_key_bytes",
]

SEAL_KEY_PREFIX = "x25519:"
SEAL_INFO_LABEL = b"tisa sealed item v1"

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_TAG_LENGTH = 16
#: Bytes a sealed item adds to its plaintext: the encapsulated key and the AEAD tag.
SEALED_OVERHEAD = KEM.X25519.enc_length() + _TAG_LENGTH

_OPAQUE = "sealed item did not open"


def seal_info(recipient: str, aad: bytes) -> bytes:
    """The HPKE ``info``: context label, recipient party code, digest of the header."""
    code = recipient.encode("utf-8")
    return b"%b %d %b %b" % (SEAL_INFO_LABEL, len(code), code, hashlib.sha256(aad).digest())


def seal(plaintext: bytes, recipient_key: X25519PublicKey, *, recipient: str, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` so only the holder of ``recipient_key`` can read it.

    A fresh ephemeral key each call: sealing the same bytes twice differs.
    """
    if not recipient:
        raise InvalidInput("sealing needs the recipient's party code")
    return _SUITE.encrypt(plaintext, recipient_key, info=seal_info(recipient, aad))


def open_sealed(
    sealed: bytes, private_key: X25519PrivateKey, *, recipient: str, aad: bytes
) -> bytes:
    """Decrypt what ``seal`` made for this recipient and header, or raise
    ``VerificationError`` (``detail`` for the log)."""
    if len(sealed) < SEALED_OVERHEAD:
        raise VerificationError(
            _OPAQUE, detail=f"{len(sealed)} bytes, shorter than the {SEALED_OVERHEAD}-byte overhead"
        )
    try:
        return _SUITE.decrypt(sealed, private_key, info=seal_info(recipient, aad))
    except InvalidTag:
        raise VerificationError(
            _OPAQUE,
            detail=f"HPKE open failed for recipient {recipient!r}: wrong key, header or bytes",
        ) from None


# -- keys ---------------------------------------------------------------------


def generate_seal_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def save_seal_key(key: X25519PrivateKey, path: Path) -> None:
    """Write the key as PKCS#8 PEM, created with mode 0600 and never widened."""
    write_secret_file(path, private_key_pem(key))


def load_seal_key(path: Path) -> X25519PrivateKey:
    """Load the node's sealing key, refusing one that others can read."""
    key = load_private_pem(path, "sealing key")
    if not isinstance(key, X25519PrivateKey):
        raise ConfigError(f"{path}: not an X25519 key")
    return key


def seal_public_key_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def format_seal_public_key(key: X25519PublicKey) -> str:
    return SEAL_KEY_PREFIX + base64.b64encode(seal_public_key_bytes(key)).decode("ascii")


def parse_seal_public_key(text: str) -> X25519PublicKey:
    """Parse ``x25519:<base64>``; raise ``InvalidInput`` saying what is wrong."""
    if not text.startswith(SEAL_KEY_PREFIX):
        raise InvalidInput(f"sealing key {text!r} must start with {SEAL_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(SEAL_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"sealing key {text!r}: not valid base64") from exc
    if len(raw) != 32:
        raise InvalidInput(f"sealing key {text!r}: {len(raw)} bytes, an X25519 key has 32")
    key = X25519PublicKey.from_public_bytes(raw)
    try:  # A low-order point gives an all-zero secret: nothing could be sealed to it.
        X25519PrivateKey.generate().exchange(key)
    except ValueError as exc:
        raise InvalidInput(f"sealing key {text!r}: not a usable X25519 public key") from exc
    return key
