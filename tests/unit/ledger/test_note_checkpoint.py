"""Signed notes, checkpoints and cosignatures against published examples.

Sources, verified byte for byte with real Ed25519:
* golang.org/x/mod/sumdb/note ``note.go`` example and ``note_test.go``: the
  PeterNeumann signer/verifier keys and signed note.
* c2sp.org/signed-note "Verifier keys" example (example.com/foo key and note, verified).
* c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature examples without
  published keys: parsed, not verified.
* A checkpoint of the public staging log arche2025h1.staging.ct.transparency.dev
  carrying the log's Ed25519 signature and a remora.n621.de v1 cosignature, as
  verified by a published Python test suite of C2SP formats (log and witness
  verifier keys as published by their operators).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_text,
    sign_checkpoint,
)
from tisa.ledger.cosignature import (
    CosignatureV1Signer,
    CosignatureV1Verifier,
    cosignature_timestamp,
    cosigned_message,
)
from tisa.ledger.note import (
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    open_note,
    parse_note,
    sign_note,
)

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()

ARCHE_CHECKPOINT = """arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
""".encode()
ARCHE_LOG_VKEY = (
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
)
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

SPEC_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "\u2014 quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()
SPEC_COSIGNED = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
).encode()


def go_signer() -> Ed25519Signer:
    material = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert material[0] == 0x01
    return Ed25519Signer(
        name="PeterNeumann", private_key=Ed25519PrivateKey.from_private_bytes(material[1:])
    )


def test_go_note_is_reproduced_and_verified() -> None:
    signer = go_signer()
    assert signer.verifier.verifier_key == GO_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, [signer]).to_bytes() == GO_NOTE
    verifier = Ed25519Verifier.from_verifier_key(GO_VKEY)
    opened = open_note(GO_NOTE, [verifier])
    assert opened.text == GO_TEXT
    with pytest.raises(VerificationError):
        open_note(GO_NOTE.replace(b"cryptography", b"cryptographY"), [verifier])


def test_unknown_signatures_are_ignored_but_one_known_is_required() -> None:
    stranger = Ed25519Signer(name="stranger.example", private_key=Ed25519PrivateKey.generate())
    both = sign_note(GO_TEXT, [stranger, go_signer()]).to_bytes()
    assert len(open_note(both, [Ed25519Verifier.from_verifier_key(GO_VKEY)]).verified) == 1
    with pytest.raises(VerificationError):
        open_note(both, [])
    # Same name, other key: a different key ID, so ignored, and then none is known.
    impostor = Ed25519Signer(name="PeterNeumann", private_key=Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError):
        open_note(GO_NOTE, [impostor.verifier])


def test_a_failing_known_signature_rejects_the_note() -> None:
    note = parse_note(GO_NOTE)
    bad = note.signatures[0]
    forged = Note(
        text=note.text,
        signatures=(
            type(bad)(name=bad.name, key_id=bad.key_id, signature=bytes(64)),
            bad,
        ),
    )
    with pytest.raises(VerificationError):
        open_note(forged.to_bytes(), [Ed25519Verifier.from_verifier_key(GO_VKEY)])


def test_real_checkpoint_with_log_signature_and_cosignature() -> None:
    log = Ed25519Verifier.from_verifier_key(ARCHE_LOG_VKEY)
    witness = CosignatureV1Verifier.from_verifier_key(REMORA_VKEY)
    signed = open_checkpoint(
        ARCHE_CHECKPOINT, [log], origin="arche2025h1.staging.ct.transparency.dev"
    )
    assert signed.checkpoint.size == 1432088532
    assert signed.checkpoint.root_hash == base64.b64decode(
        "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro="
    )
    cosigned = open_note(ARCHE_CHECKPOINT, [witness])
    assert [s.name for s in cosigned.verified] == ["remora.n621.de"]
    assert witness.key_id.hex() == "da77ade7"
    tampered = ARCHE_CHECKPOINT.replace(b"1432088532", b"1432088533")
    with pytest.raises(VerificationError):
        open_checkpoint(tampered, [log])
    with pytest.raises(VerificationError):
        open_note(tampered, [witness])
    with pytest.raises(VerificationError):
        open_checkpoint(ARCHE_CHECKPOINT, [log], origin="other.example/log")


def test_spec_examples_parse() -> None:
    note = parse_note(SPEC_NOTE)
    assert note.text.endswith("ed è subito sera.\n")  # split at the *last* blank line
    assert note.to_bytes() == SPEC_NOTE
    cosigned = parse_note(SPEC_COSIGNED)
    cp = parse_checkpoint_text(cosigned.text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    # The spec's cosignature carries the time of its example signed message.
    assert cosignature_timestamp(cosigned.signatures[1].signature) == 1679315147
    assert cosigned_message(cp.to_text(), 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_checkpoint_round_trip_and_signing() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(name="node-a.example/log", private_key=key)
    cp = Checkpoint(origin="node-a.example/log", size=5, root_hash=bytes(range(32)))
    signed = sign_checkpoint(cp, [signer])
    opened = open_checkpoint(signed.to_bytes(), [signer.verifier], origin="node-a.example/log")
    assert opened.checkpoint == cp
    with_ext = Checkpoint(origin="o", size=0, root_hash=bytes(32), extensions=("ext one",))
    assert parse_checkpoint_text(with_ext.to_text()) == with_ext


@pytest.mark.parametrize(
    "text",
    [
        "o\n5\n",
        "o\n05\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n5\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "o\n5\n" + base64.b64encode(bytes(32)).decode().rstrip("=") + "\n",
        "\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
        "o\n5\n" + base64.b64encode(bytes(32)).decode(),
        "o\n99999999999999999999\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_checkpoint_text(text)


@pytest.mark.parametrize(
    "data",
    [
        b"no blank line\n\xe2\x80\x94 a AAAAAAA=\n",
        GO_NOTE[:-1],
        GO_NOTE.replace(b"\xe2\x80\x94", b"--"),
        GO_NOTE + b"\n",
        GO_NOTE.replace(b"problem,", b"problem,\r"),
        b"text\n\n",
        b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n",
        GO_TEXT.encode() + b"\n\xe2\x80\x94 Peter+Neumann AAAAAAA=\n",
        GO_TEXT.encode() + b"\n\xe2\x80\x94 PeterNeumann AAAA\n",
    ],
)
def test_malformed_notes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_note(data)


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        GO_VKEY.replace("+ARpc", "+BRpc"),
        "PeterNeumann+c74f20a3",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        REMORA_VKEY,
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(InvalidInput):
        Ed25519Verifier.from_verifier_key(vkey)


def test_cosignature_round_trip() -> None:
    witness = CosignatureV1Signer(
        name="witness.example/w1", private_key=Ed25519PrivateKey.generate()
    )
    vkey = witness.verifier.verifier_key
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    cp = Checkpoint(origin="log.example", size=3, root_hash=bytes(32))
    sig = witness.cosign(cp.to_text(), 1_700_000_000)
    assert len(sig.signature) == 72
    assert cosignature_timestamp(sig.signature) == 1_700_000_000
    note = Note(text=cp.to_text(), signatures=(sig,))
    verifier = CosignatureV1Verifier.from_verifier_key(vkey)
    assert open_note(note.to_bytes(), [verifier]).verified == (sig,)
    # A cosignature is not a plain note signature, nor the other way round.
    assert not verifier.verify(cp.to_text().encode(), sig.signature[8:])
    with pytest.raises(InvalidInput):
        CosignatureV1Verifier.from_verifier_key(GO_VKEY)


@given(st.data())
def test_any_flipped_byte_in_a_signed_checkpoint_fails(data: st.DataObject) -> None:
    raw = bytearray(ARCHE_CHECKPOINT)
    body_end = raw.index(b"\n\n") + 1
    pos = data.draw(st.integers(min_value=0, max_value=body_end - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    log = Ed25519Verifier.from_verifier_key(ARCHE_LOG_VKEY)
    with pytest.raises((InvalidInput, VerificationError)):
        open_checkpoint(bytes(raw), [log], origin="arche2025h1.staging.ct.transparency.dev")


def test_next_checkpoint_refuses_to_sign_an_inconsistent_tree() -> None:
    from tisa.errors import IntegrityError
    from tisa.ledger.checkpoint import next_checkpoint
    from tisa.ledger.merkle import MerkleTree

    tree = MerkleTree()
    for i in range(10):
        tree.append(b"%d" % i)
    first = next_checkpoint(None, origin="o", size=6, root_hash=tree.root(6), consistency_proof=[])
    second = next_checkpoint(
        first,
        origin="o",
        size=10,
        root_hash=tree.root(),
        consistency_proof=tree.consistency_proof(6),
    )
    assert second.size == 10
    rewritten = MerkleTree()
    for i in range(10):
        rewritten.append(b"x%d" % i)
    with pytest.raises(IntegrityError):
        next_checkpoint(
            first,
            origin="o",
            size=10,
            root_hash=rewritten.root(),
            consistency_proof=rewritten.consistency_proof(6),
        )
    with pytest.raises(IntegrityError):  # a restart that lost entries
        next_checkpoint(second, origin="o", size=6, root_hash=tree.root(6), consistency_proof=[])
    with pytest.raises(IntegrityError):
        next_checkpoint(first, origin="p", size=6, root_hash=tree.root(6), consistency_proof=[])


# c2sp.org/signed-note, section "Verifier keys", example (the stored copy of the
# spec this repository was checked against predates that section; the key and
# note are quoted identically by several independent implementations' tests).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_VKEY_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def test_signed_note_spec_verifier_key_example() -> None:
    verifier = Ed25519Verifier.from_verifier_key(SPEC_VKEY)
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.verifier_key == SPEC_VKEY
    opened = open_note(SPEC_VKEY_NOTE, [verifier])
    assert opened.text == "This is an example message.\n"
    with pytest.raises(VerificationError):
        open_note(SPEC_VKEY_NOTE.replace(b"example message", b"example massage"), [verifier])
