from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import Checkpoint, sign_checkpoint
from tisa.ledger.cosignature import CosignatureV1Signer
from tisa.ledger.merkle import MerkleTree, leaf_hash
from tisa.ledger.note import Ed25519Signer, Note
from tisa.ledger.tlog_proof import TlogProof, parse_tlog_proof, verify_tlog_proof

from .conftest import ORIGIN

SPEC_EXAMPLE_HEAD = (
    b"c2sp.org/tlog-proof@v1\n"
    b"extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\n"
    b"index 73894\n"
    b"gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
    b"B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
    b"\n"
)


def make_receipt(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer, index: int = 3
) -> tuple[bytes, bytes]:
    tree = MerkleTree()
    for i in range(11):
        tree.append(b"entry %d" % i)
    cp = Checkpoint(origin=ORIGIN, size=tree.size, root_hash=tree.root())
    signed = sign_checkpoint(cp, [log_signer])
    cosig = witness.cosign(cp.to_text(), 1_764_400_000)
    note = Note(text=signed.note.text, signatures=(*signed.note.signatures, cosig))
    proof = TlogProof(
        index=index, proof=tuple(tree.inclusion_proof(index)), checkpoint_note=note.to_bytes()
    )
    return proof.to_bytes(), leaf_hash(b"entry %d" % index)


def test_receipt_verifies_offline(log_signer: Ed25519Signer, witness: CosignatureV1Signer) -> None:
    data, lh = make_receipt(log_signer, witness)
    assert data.startswith(b"c2sp.org/tlog-proof@v1\nindex 3\n")
    cp = verify_tlog_proof(
        data,
        leaf_hash=lh,
        log_verifiers=[log_signer.verifier],
        origin=ORIGIN,
        witness_verifiers=[witness.verifier],
        witness_quorum=1,
    )
    assert cp.size == 11
    assert parse_tlog_proof(data).to_bytes() == data


def test_receipt_refusals(log_signer: Ed25519Signer, witness: CosignatureV1Signer) -> None:
    data, lh = make_receipt(log_signer, witness)
    ok = {"leaf_hash": lh, "log_verifiers": [log_signer.verifier], "origin": ORIGIN}
    with pytest.raises(VerificationError):
        verify_tlog_proof(data, **{**ok, "leaf_hash": leaf_hash(b"entry 4")})  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        verify_tlog_proof(data, **{**ok, "origin": "elsewhere"})  # type: ignore[arg-type]
    other = CosignatureV1Signer(name="w2", private_key=Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="cosigned"):
        verify_tlog_proof(data, **ok, witness_verifiers=[other.verifier], witness_quorum=1)  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        verify_tlog_proof(data.replace(b"index 3", b"index 5"), **ok)  # type: ignore[arg-type]


def test_spec_example_header_parses() -> None:
    note = (
        b"example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n"
        b"\xe2\x80\x94 example.com/fancylog AAAAAAA=\n"
    )
    proof = parse_tlog_proof(SPEC_EXAMPLE_HEAD + note)
    assert proof.index == 73894
    assert proof.extra == b"age-v1.2.1-darwin-arm64.tar.gz"
    assert len(proof.proof) == 2


@pytest.mark.parametrize(
    "head",
    [
        b"c2sp.org/tlog-proof@v2\nindex 1\n\n",
        b"c2sp.org/tlog-proof@v1\nindex 01\n\n",
        b"c2sp.org/tlog-proof@v1\n\n",
        b"c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n",
        b"c2sp.org/tlog-proof@v1\nindex 1\nextra AA==\n\n",
    ],
)
def test_malformed_receipts(head: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_tlog_proof(head + b"o\n1\n" + b"A" * 43 + b"=\n\n\xe2\x80\x94 o AAAAAAA=\n")


@settings(max_examples=200)
@given(st.data())
def test_any_flipped_byte_in_a_receipt_fails(data: st.DataObject) -> None:
    signer = Ed25519Signer(name=ORIGIN, private_key=Ed25519PrivateKey.from_private_bytes(bytes(32)))
    w = CosignatureV1Signer(
        name="w", private_key=Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
    )
    receipt, lh = make_receipt(signer, w)
    raw = bytearray(receipt)
    # Everything but the signature lines (a flip there can hit an unknown-key line).
    end = receipt.rindex(b"\n\n") + 1
    pos = data.draw(st.integers(min_value=0, max_value=end - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    with pytest.raises((InvalidInput, VerificationError)):
        verify_tlog_proof(
            bytes(raw),
            leaf_hash=lh,
            log_verifiers=[signer.verifier],
            origin=ORIGIN,
            witness_verifiers=[w.verifier],
            witness_quorum=1,
        )
