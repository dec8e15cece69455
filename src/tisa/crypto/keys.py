"""Ed25519 signing keys: generate, store (private key 0600), load, and print.

Public keys travel as ``ed25519:<base64 of the 32 raw bytes>``.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tisa.errors import ConfigError, InvalidInput

PUBLIC_KEY_PREFIX = "ed25519:"


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write the key as PKCS#8 PEM, created with mode 0600 and never widened."""
    write_secret_file(path, private_key_pem(key))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load the node's key, refusing one that others can read."""
    key = load_private_pem(path, "signing key")
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return key


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never over an existing file) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def load_private_pem(path: Path, what: str) -> PrivateKeyTypes:
    """Load a PEM private key, refusing a file that others can read."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    if mode & 0o077:
        raise ConfigError(
            f"{path}: the {what} is readable by others (mode {mode:o}); fix with: chmod 600 {path}"
        )
    try:
        return serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM private key") from exc


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes. A node's trusted keys are a handful of long-lived objects and
    DSSE verification asks for them per signature (to count distinct keys), so they are
    kept by object (the entry holds the key, so its id is not reused meanwhile)."""
    found = _RAW_BYTES.get(id(key))
    if found is not None and found[0] is key:
        return found[1]
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(_RAW_BYTES) >= _RAW_BYTES_MAX:
        _RAW_BYTES.clear()  # keys made by the hundred (tests): start again, stay bounded
    _RAW_BYTES[id(key)] = (key, raw)
    return raw


#: raw bytes by key object, bounded
_RAW_BYTES: dict[int, tuple[Ed25519PublicKey, bytes]] = {}
_RAW_BYTES_MAX = 256


def format_public_key(key: Ed25519PublicKey) -> str:
    return PUBLIC_KEY_PREFIX + base64.b64encode(public_key_bytes(key)).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Parse ``ed25519:<base64>``; raise ``InvalidInput`` saying what is wrong."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise InvalidInput(f"public key {text!r} must start with {PUBLIC_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"public key {text!r}: not valid base64") from exc
    if len(raw) != 32:
        raise InvalidInput(f"public key {text!r}: {len(raw)} bytes, an Ed25519 key has 32")
    return Ed25519PublicKey.from_public_bytes(raw)
