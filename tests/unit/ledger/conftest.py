from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.ledger.cosignature import CosignatureV1Signer
from tisa.ledger.note import Ed25519Signer

ORIGIN = "node-a.example/log"


@pytest.fixture
def log_signer() -> Ed25519Signer:
    return Ed25519Signer(name=ORIGIN, private_key=Ed25519PrivateKey.generate())


@pytest.fixture
def witness() -> CosignatureV1Signer:
    return CosignatureV1Signer(
        name="node-b.example/witness", private_key=Ed25519PrivateKey.generate()
    )
