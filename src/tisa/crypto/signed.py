"""Signing statements into DSSE envelopes, and verifying them back.

``verify_statement`` is what every hop calls on what it receives: the
envelope verifies under a trusted key, carries the statement's payload type,
parses strictly, and the party the statement says signed it (``signer``) is
the party whose key verified it. Any failure is one opaque
``VerificationError("envelope did not verify")`` with ``detail`` for the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.crypto._statement_base import Statement
from tisa.crypto.dsse import Envelope, sign_envelope, verify_envelope
from tisa.errors import InvalidInput, VerificationError

__all__ = ["Verified", "sign_statement", "verify_statement"]

_S = TypeVar("_S", bound=Statement)


@dataclass(frozen=True, kw_only=True)
class Verified(Generic[_S]):
    """A statement that verified, with the exact bytes its signature covers."""

    statement: _S
    payload: bytes
    signer: str
    envelope_sha256: str


def sign_statement(statement: Statement, key: Ed25519PrivateKey) -> Envelope:
    """Sign the canonical bytes; the keyid is the signer's party code."""
    return sign_envelope(statement.PAYLOAD_TYPE, statement.to_bytes(), key, statement.signer)


def verify_statement(
    envelope: Envelope, trusted_keys: Mapping[str, Ed25519PublicKey], kind: type[_S]
) -> Verified[_S]:
    """Verify ``envelope`` as a ``kind`` statement signed by its own signer.

    ``trusted_keys`` maps party codes to their Ed25519 keys (the network file).
    """
    verified = verify_envelope(envelope, trusted_keys, payload_type=kind.PAYLOAD_TYPE)
    try:
        statement = kind.from_bytes(verified.payload)
    except InvalidInput as exc:
        raise VerificationError(
            "envelope did not verify", detail=f"signed payload is not a valid {kind.TYPE}: {exc}"
        ) from None
    if statement.signer not in verified.keyids:
        raise VerificationError(
            "envelope did not verify",
            detail=(
                f"{kind.TYPE} names {statement.signer} as signer, but the signature "
                f"verified under {', '.join(verified.keyids)}"
            ),
        )
    return Verified(
        statement=statement,
        payload=verified.payload,
        signer=statement.signer,
        envelope_sha256=verified.digest,
    )
