"""How a party's log and witness keys are named, so peers need only its public key.

One convention, used everywhere (documented in ``docs/ledger.md``)::

    log origin and note key name     tisa.<party code, lower case>/log
    witness cosignature key name     tisa.<party code, lower case>/witness

Party codes are letters, digits and ``._:-``, so both are valid signed-note key
names (no spaces, no ``+``). The node's one Ed25519 key (``public_key`` in the
network file) signs its checkpoints (key type 0x01) and its cosignatures (type
0x04); the key IDs differ, so the two roles cannot be confused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tisa.errors import InvalidInput
from tisa.ledger.cosignature import CosignatureV1Verifier
from tisa.ledger.note import Ed25519Verifier, check_key_name

__all__ = ["log_origin", "log_verifier", "log_verifiers_by_origin", "witness_name",
           "witness_verifier"]


def log_origin(party: str) -> str:
    name = f"tisa.{party.lower()}/log"
    check_key_name(name)
    return name


def witness_name(party: str) -> str:
    name = f"tisa.{party.lower()}/witness"
    check_key_name(name)
    return name


def log_verifier(party: str, public_key: Ed25519PublicKey) -> Ed25519Verifier:
    return Ed25519Verifier(name=log_origin(party), public_key=public_key)


def witness_verifier(party: str, public_key: Ed25519PublicKey) -> CosignatureV1Verifier:
    return CosignatureV1Verifier(name=witness_name(party), public_key=public_key)


def log_verifiers_by_origin(
    keys: Iterable[tuple[str, Ed25519PublicKey]],
) -> Mapping[str, list[Ed25519Verifier]]:
    """``origin -> [verifier]`` for ``(party, key)`` pairs; two parties whose codes differ
    only in case would share an origin, which is refused."""
    out: dict[str, list[Ed25519Verifier]] = {}
    owner: dict[str, str] = {}
    for party, key in keys:
        origin = log_origin(party)
        if owner.setdefault(origin, party) != party:
            raise InvalidInput(f"parties {owner[origin]} and {party} would share log {origin}")
        out.setdefault(origin, []).append(log_verifier(party, key))
    return out
