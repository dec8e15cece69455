"""C2SP tlog-cosignature v1, Ed25519 (c2sp.org/tlog-cosignature).

A witness's cosignature is a note signature line whose key ID uses type byte
``0x04``::

    key ID    = SHA-256(name || "\\n" || 0x04 || 32-byte Ed25519 public key)[:4]
    signature = u64 big-endian timestamp || Ed25519(message)          (72 bytes)
    message   = "cosignature/v1\\n" "time <timestamp>\\n" || checkpoint note text

The timestamp is POSIX seconds and at most 2**63 - 1. The Ed25519 message does
not commit to the cosigner name, so one key must serve one cosigner only.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.crypto.keys import public_key_bytes
from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.note import (
    SIG_TYPE_COSIGNATURE_V1,
    Note,
    NoteSignature,
    Verifier,
    check_key_name,
    format_verifier_key,
    key_id,
    parse_verifier_key_parts,
)

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "cosignature_timestamp",
    "cosigned_message",
    "count_cosigners",
]

COSIGNATURE_V1_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = (1 << 63) - 1


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise InvalidInput(f"cosignature timestamp {timestamp} is out of range")
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp of a 72-byte timestamped signature."""
    if len(signature) != 72:
        raise InvalidInput(f"a v1 cosignature has 72 bytes, got {len(signature)}")
    (timestamp,) = struct.unpack(">Q", signature[:8])
    return int(timestamp)


@dataclass(frozen=True, kw_only=True)
class CosignatureV1Verifier:
    """Verifies a witness's v1 cosignatures; usable wherever a note ``Verifier`` is."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, SIG_TYPE_COSIGNATURE_V1, public_key_bytes(self.public_key))

    @property
    def verifier_key(self) -> str:
        return format_verifier_key(
            self.name, SIG_TYPE_COSIGNATURE_V1, public_key_bytes(self.public_key)
        )

    @classmethod
    def from_verifier_key(cls, vkey: str) -> CosignatureV1Verifier:
        name, _, sig_type, raw = parse_verifier_key_parts(vkey)
        if sig_type != SIG_TYPE_COSIGNATURE_V1 or len(raw) != 32:
            raise InvalidInput(f"verifier key {name!r} is not an Ed25519 cosigner key (type 0x04)")
        return cls(name=name, public_key=Ed25519PublicKey.from_public_bytes(raw))

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        timestamp = cosignature_timestamp(signature)
        if timestamp > _MAX_TIMESTAMP:
            return False
        message = f"{COSIGNATURE_V1_HEADER}time {timestamp}\n".encode() + text
        try:
            self.public_key.verify(signature[8:], message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, kw_only=True)
class CosignatureV1Signer:
    """A witness key; the caller supplies the time, so cosigning stays pure."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> CosignatureV1Verifier:
        return CosignatureV1Verifier(name=self.name, public_key=self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        message = cosigned_message(checkpoint_text, timestamp)
        sig = struct.pack(">Q", timestamp) + self.private_key.sign(message)
        return NoteSignature(name=self.name, key_id=self.key_id, signature=sig)


def count_cosigners(note: Note, witnesses: Sequence[Verifier]) -> int:
    """How many of ``witnesses`` signed ``note``; a known signature that fails raises
    ``VerificationError`` (signed-note: reject the whole note)."""
    text = note.text.encode()
    count = 0
    for witness in witnesses:
        sigs = [s for s in note.signatures if (s.name, s.key_id) == (witness.name, witness.key_id)]
        for sig in sigs:
            if not witness.verify(text, sig.signature):
                raise VerificationError(f"the cosignature by {witness.name!r} does not verify")
        if sigs:
            count += 1
    return count
