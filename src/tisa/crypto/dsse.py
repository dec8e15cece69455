"""DSSE v1 envelopes signed with Ed25519 (secure-systems-lab/dsse, protocol 1.0.0).

A signature covers ``pae(payload_type, payload)``, never the JSON around it,
so a relay may re-serialize an envelope in any way and the originator's
signature still verifies: verifiers hand on the exact payload bytes they
verified (``VerifiedPayload.payload``), and nothing else.

Two families of failure, kept apart on purpose:

* ``InvalidInput``: the envelope JSON is malformed (``parse_envelope``).
* ``VerificationError("envelope did not verify")``: well formed, but not
  signed as required. Every reason collapses into that one message so a peer
  learns nothing; ``exc.detail`` says what failed, for the local log.

Key ids (``keyid``) are unauthenticated hints that only select which trusted
key to try. The identity of a signer is the key id under which the *caller*
trusts the key that verified; tisa uses the party code (``"KOR"``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.crypto._encoding import b64decode, b64encode, canonical_json, fields_of, load_json
from tisa.crypto.keys import public_key_bytes
from tisa.errors import InvalidInput, VerificationError

__all__ = [
    "MAX_SIGNATURES",
    "Envelope",
    "Signature",
    "VerifiedPayload",
    "add_signature",
    "envelope_from_json_object",
    "pae",
    "parse_envelope",
    "sign_envelope",
    "verify_envelope",
]

#: More signatures than this is refused when parsing (work is bounded per envelope).
MAX_SIGNATURES = 8

_OPAQUE = "envelope did not verify"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE Pre-Authentication Encoding: the exact bytes every signature covers.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, where LEN is the
    decimal byte length (of the UTF-8 type) without leading zeros.
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True, kw_only=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """A DSSE envelope. Compare envelopes by ``digest()``, not by their JSON."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def digest(self) -> str:
        """SHA-256 (hex) of the PAE bytes: stable across re-serialization and
        independent of the signatures. This is the "envelope sha256" that
        consents, relay statements and receipts (their log entries) name."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    def to_json_object(self) -> dict[str, object]:
        signatures: list[dict[str, str]] = []
        for s in self.signatures:
            entry = {"sig": b64encode(s.sig)}
            if s.keyid:
                entry["keyid"] = s.keyid
            signatures.append(entry)
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        }

    def to_json(self) -> bytes:
        """Compact JSON with sorted keys and standard, padded base64: the canonical JSON
        of ``to_json_object``, written out directly (base64 text needs no escaping, so
        the payload, the bulk of it, is not run through the JSON encoder)."""
        signatures = b",".join(
            b'{"keyid":%b,"sig":"%b"}' % (canonical_json(s.keyid), base64.b64encode(s.sig))
            if s.keyid else b'{"sig":"%b"}' % base64.b64encode(s.sig)
            for s in self.signatures)
        return b'{"payload":"%b","payloadType":%b,"signatures":[%b]}' % (
            base64.b64encode(self.payload), canonical_json(self.payload_type), signatures)


@dataclass(frozen=True, kw_only=True)
class VerifiedPayload:
    """What a verifier may rely on, and pass on: the exact bytes it verified."""

    payload_type: str
    payload: bytes
    keyids: tuple[str, ...]
    digest: str


def sign_envelope(
    payload_type: str, payload: bytes, key: Ed25519PrivateKey, keyid: str
) -> Envelope:
    if not payload_type:
        raise InvalidInput("a DSSE payloadType must not be empty")
    if not keyid:
        raise InvalidInput("tisa signs with a keyid (the signer's party code)")
    envelope = Envelope(payload_type=payload_type, payload=bytes(payload), signatures=())
    return add_signature(envelope, key, keyid)


def add_signature(envelope: Envelope, key: Ed25519PrivateKey, keyid: str) -> Envelope:
    """A copy of ``envelope`` with one more signature over the same PAE bytes."""
    if len(envelope.signatures) >= MAX_SIGNATURES:
        raise InvalidInput(f"an envelope carries at most {MAX_SIGNATURES} signatures")
    sig = Signature(keyid=keyid, sig=key.sign(envelope.signed_bytes()))
    return Envelope(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        signatures=(*envelope.signatures, sig),
    )


def verify_envelope(
    envelope: Envelope,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    *,
    payload_type: str,
    threshold: int = 1,
) -> VerifiedPayload:
    """Verify per DSSE: at least ``threshold`` distinct trusted keys signed, and
    the envelope carries the one ``payload_type`` the caller supports.

    A signature whose keyid is not trusted, or that does not verify, is skipped
    (DSSE multi-signature rule); one without a keyid is tried against every
    trusted key. Raises ``VerificationError`` with ``detail`` for the log.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1: nothing is trivially valid")
    signed = envelope.signed_bytes()
    accepted: dict[bytes, str] = {}
    skipped: list[str] = []
    for signature in envelope.signatures:
        candidates = (
            [(signature.keyid, trusted_keys[signature.keyid])]
            if signature.keyid in trusted_keys
            else ([] if signature.keyid else list(trusted_keys.items()))
        )
        if not candidates:
            skipped.append(f"{signature.keyid!r}: not a trusted key")
            continue
        for keyid, public in candidates:
            try:
                public.verify(signature.sig, signed)
            except InvalidSignature:
                continue
            accepted.setdefault(public_key_bytes(public), keyid)
            break
        else:
            skipped.append(f"{signature.keyid!r}: signature does not verify")
    if len(accepted) < threshold:
        raise VerificationError(
            _OPAQUE,
            detail=(
                f"{len(accepted)} of {threshold} required trusted signature(s) "
                f"on {envelope.payload_type!r}; skipped: {'; '.join(skipped) or 'none'}"
            ),
        )
    if envelope.payload_type != payload_type:
        raise VerificationError(
            _OPAQUE,
            detail=f"payloadType {envelope.payload_type!r}, expected {payload_type!r}",
        )
    return VerifiedPayload(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        keyids=tuple(accepted.values()),
        digest=hashlib.sha256(signed).hexdigest(),
    )


# -- strict parsing ----------------------------------------------------------


def parse_envelope(data: bytes | str) -> Envelope:
    """Parse DSSE JSON strictly: exactly the envelope fields, no duplicate keys,
    base64 in the standard or URL-safe alphabet (DSSE allows both), canonical."""
    if isinstance(data, str):
        return _parse_text(data)
    return envelope_from_json_object(load_json(data, "envelope"))


@lru_cache(maxsize=1024)
def _parse_text(text: str) -> Envelope:
    """Envelope text is parsed at several steps of one exchange (prefetch, verification,
    bookkeeping): parsing is a pure function of the text and ``Envelope`` is immutable,
    so recent results are kept (failures are not: they raise)."""
    return envelope_from_json_object(load_json(text, "envelope"))


def envelope_from_json_object(obj: object) -> Envelope:
    fields = fields_of(obj, "envelope", required={"payload", "payloadType", "signatures"})
    payload_type = fields["payloadType"]
    if not isinstance(payload_type, str) or not payload_type:
        raise InvalidInput("envelope: payloadType must be a non-empty string")
    payload = b64decode(fields["payload"], "envelope: payload")
    raw_signatures = fields["signatures"]
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise InvalidInput("envelope: signatures must be a non-empty list")
    if len(raw_signatures) > MAX_SIGNATURES:
        raise InvalidInput(f"envelope: more than {MAX_SIGNATURES} signatures")
    signatures = []
    for i, raw in enumerate(raw_signatures):
        where = f"envelope: signatures[{i}]"
        entry = fields_of(raw, where, required={"sig"}, optional={"keyid"})
        keyid = entry.get("keyid", "")
        if not isinstance(keyid, str):
            raise InvalidInput(f"{where}: keyid must be a string")
        sig = b64decode(entry["sig"], f"{where}: sig")
        if not sig:
            raise InvalidInput(f"{where}: sig is empty")
        signatures.append(Signature(keyid=keyid, sig=sig))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(signatures))
