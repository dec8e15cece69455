"""The tlog-witness add-checkpoint decision, with real keys and real trees."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.errors import InvalidInput
from tisa.ledger.checkpoint import Checkpoint, sign_checkpoint
from tisa.ledger.cosignature import CosignatureV1Signer, cosignature_timestamp
from tisa.ledger.merkle import MerkleTree
from tisa.ledger.note import Ed25519Signer, open_note
from tisa.ledger.witness import (
    MAX_ADD_CHECKPOINT_BODY,
    WitnessOutcome,
    WitnessState,
    decide_add_checkpoint,
    format_add_checkpoint_request,
    parse_add_checkpoint_request,
    parse_cosignature_response,
    parse_size_response,
)

from .conftest import ORIGIN

NOW = 1_764_400_000


class Witness:
    """A witness with in-memory state, as the store will later provide it."""

    def __init__(self, log: Ed25519Signer, cosigner: CosignatureV1Signer) -> None:
        self.log = log
        self.cosigner = cosigner
        self.state: dict[str, WitnessState] = {}

    def submit(self, body: bytes):  # type: ignore[no-untyped-def]
        decision = decide_add_checkpoint(
            body,
            log_verifiers={ORIGIN: [self.log.verifier]},
            known_state=self.state.get,
            cosigner=self.cosigner,
            timestamp=NOW,
        )
        if decision.new_state is not None:
            assert self.state.get(ORIGIN) == decision.previous_state
            self.state[ORIGIN] = decision.new_state
        return decision


def tree_of(n: int, salt: bytes = b"") -> MerkleTree:
    tree = MerkleTree()
    for i in range(n):
        tree.append(salt + b"entry %d" % i)
    return tree


def note_for(tree: MerkleTree, signer: Ed25519Signer, size: int | None = None) -> bytes:
    n = tree.size if size is None else size
    cp = Checkpoint(origin=ORIGIN, size=n, root_hash=tree.root(n))
    return sign_checkpoint(cp, [signer]).to_bytes()


def body(tree: MerkleTree, signer: Ed25519Signer, old: int, new: int | None = None) -> bytes:
    n = tree.size if new is None else new
    return format_add_checkpoint_request(
        old, tree.consistency_proof(old, n), note_for(tree, signer, n)
    )


def test_spec_example_request_parses() -> None:
    example = (
        "old 20852014\n"
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
        "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
        "\n"
        "example.com/behind-the-sofa\n"
        "20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        "\n"
        "\u2014 example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
        "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    ).encode()
    request = parse_add_checkpoint_request(example)
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert request.checkpoint_note.startswith(b"example.com/behind-the-sofa\n")


def test_first_checkpoint_then_consistent_growth_is_cosigned(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    tree = tree_of(10)
    first = w.submit(body(tree, log_signer, 0, 7))
    assert first.outcome is WitnessOutcome.COSIGNED
    assert first.new_state == WitnessState(size=7, root_hash=tree.root(7))
    second = w.submit(body(tree, log_signer, 7, 10))
    assert second.outcome is WitnessOutcome.COSIGNED
    # The response body, appended to the checkpoint, verifies as a v1 cosignature.
    cosigned = parse_cosignature_response(second.body(), note_for(tree, log_signer))
    verified = open_note(cosigned, [witness.verifier])
    assert cosignature_timestamp(verified.verified[0].signature) == NOW
    # Re-submitting the same checkpoint is fine.
    assert w.submit(body(tree, log_signer, 10)).outcome is WitnessOutcome.COSIGNED


def test_stale_old_size_is_answered_with_the_known_size(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    tree = tree_of(12)
    w.submit(body(tree, log_signer, 0, 9))
    decision = w.submit(body(tree, log_signer, 5, 12))
    assert decision.outcome is WitnessOutcome.OLD_SIZE_MISMATCH
    assert decision.known_size == 9
    assert decision.body() == b"9\n"
    assert parse_size_response(decision.body()) == 9
    assert decision.new_state is None
    # A client that knew nothing asks with old 0 and learns the size too.
    assert w.submit(body(tree, log_signer, 0, 12)).body() == b"9\n"


def test_inconsistent_checkpoint_is_refused(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    honest, rewritten = tree_of(8), tree_of(12, salt=b"rewritten ")
    w.submit(body(honest, log_signer, 0))
    # A checkpoint of another history with a proof from that history.
    forged = format_add_checkpoint_request(
        8, rewritten.consistency_proof(8), note_for(rewritten, log_signer)
    )
    decision = w.submit(forged)
    assert decision.outcome is WitnessOutcome.BAD_PROOF
    assert decision.evidence
    assert w.state[ORIGIN].size == 8


def test_same_size_different_root_is_a_fork(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    a, b = tree_of(6), tree_of(6, salt=b"other ")
    assert w.submit(body(a, log_signer, 0)).outcome is WitnessOutcome.COSIGNED
    decision = w.submit(format_add_checkpoint_request(6, [], note_for(b, log_signer)))
    assert decision.outcome is WitnessOutcome.SAME_SIZE_DIFFERENT_ROOT
    assert decision.evidence


def test_a_hub_showing_two_views_to_two_witnesses_is_caught(log_signer: Ed25519Signer) -> None:
    w1 = Witness(
        log_signer, CosignatureV1Signer(name="w1", private_key=Ed25519PrivateKey.generate())
    )
    w2 = Witness(
        log_signer, CosignatureV1Signer(name="w2", private_key=Ed25519PrivateKey.generate())
    )
    view1, view2 = tree_of(5), tree_of(5, salt=b"split ")
    w1.submit(body(view1, log_signer, 0))
    w2.submit(body(view2, log_signer, 0))
    # Each witness later sees the other view: the fork is refused by both.
    assert w1.submit(body(view2, log_signer, 5)).outcome is WitnessOutcome.SAME_SIZE_DIFFERENT_ROOT
    assert w2.submit(body(view1, log_signer, 5)).outcome is WitnessOutcome.SAME_SIZE_DIFFERENT_ROOT


def test_signature_and_origin_checks(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    tree = tree_of(3)
    stranger = Ed25519Signer(name=ORIGIN, private_key=Ed25519PrivateKey.generate())
    assert w.submit(body(tree, stranger, 0)).outcome is WitnessOutcome.UNTRUSTED_SIGNATURE
    other = Ed25519Signer(name="other.example/log", private_key=Ed25519PrivateKey.generate())
    cp = Checkpoint(origin="other.example/log", size=3, root_hash=tree.root())
    unknown = format_add_checkpoint_request(0, [], sign_checkpoint(cp, [other]).to_bytes())
    assert w.submit(unknown).outcome is WitnessOutcome.UNKNOWN_ORIGIN
    assert ORIGIN not in w.state


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b.replace(b"old 0\n", b"old 00\n"),
        lambda b: b.replace(b"old 0\n", b"new 0\n"),
        lambda b: b.replace(b"old 0\n", b"old 0\nnot-base64\n"),
        lambda b: b.replace(b"old 0\n", b"old 0\n" + b"AAAA\n"),
        lambda b: b.replace(b"old 0\n\n", b"old 0\n"),
        lambda b: b.replace(b"old 0\n", b"old 0\n" + b"A" * 43 + b"=\n" * 64),
        lambda b: b + b"x" * MAX_ADD_CHECKPOINT_BODY,
        lambda b: b.replace(b"old 0\n", b"old 4\n"),  # old size above the checkpoint size
    ],
)
def test_malformed_bodies_are_400(
    mangle, log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:  # type: ignore[no-untyped-def]
    w = Witness(log_signer, witness)
    decision = w.submit(mangle(body(tree_of(3), log_signer, 0)))
    assert decision.outcome is WitnessOutcome.MALFORMED
    assert decision.new_state is None


def test_proof_from_zero_must_be_empty(
    log_signer: Ed25519Signer, witness: CosignatureV1Signer
) -> None:
    w = Witness(log_signer, witness)
    tree = tree_of(4)
    decision = w.submit(
        format_add_checkpoint_request(0, tree.consistency_proof(1), note_for(tree, log_signer))
    )
    assert decision.outcome is WitnessOutcome.BAD_PROOF


def test_client_side_helpers_refuse_garbage() -> None:
    for bad in (b"9", b"09\n", b"-1\n"):
        with pytest.raises(InvalidInput):
            parse_size_response(bad)
    with pytest.raises(InvalidInput):
        parse_cosignature_response(b"not a signature\n", b"x\n1\nAA==\n\n")
