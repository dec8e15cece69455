"""C2SP signed-note (c2sp.org/signed-note): Ed25519 signers, verifier keys, strict parsing.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> <base64(4-byte key ID || signature)>``. The key ID is
``SHA-256(name || "\\n" || type byte || public key)[:4]``; a verifier key string
is ``<name>+<key ID hex>+<base64(type byte || public key)>``.

Opening a note: signatures whose (name, key ID) match no known verifier are
ignored; a known signature that fails rejects the whole note; at least one
known signature must verify. Malformed notes raise ``InvalidInput``; notes that
do not verify raise ``VerificationError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tisa.crypto.keys import public_key_bytes
from tisa.errors import InvalidInput, VerificationError

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "NoteSignature",
    "Signer",
    "VerifiedNote",
    "Verifier",
    "check_key_name",
    "decode_strict_base64",
    "format_verifier_key",
    "key_id",
    "open_note",
    "parse_note",
    "parse_verifier_key_parts",
    "sign_note",
]

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16
MAX_NOTE_BYTES = 1 << 20
_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def decode_strict_base64(text: str, *, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padded and canonical, or ``InvalidInput``."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what}: {text!r} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise InvalidInput(f"{what}: {text!r} is not canonical base64")
    return raw


def check_key_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise InvalidInput(
            f"key name {name!r} must be non-empty and contain no spaces, '+' or control characters"
        )


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || sig_type || public_key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def format_verifier_key(name: str, sig_type: int, public_key: bytes) -> str:
    check_key_name(name)
    material = base64.b64encode(bytes([sig_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, sig_type, public_key).hex()}+{material}"


def parse_verifier_key_parts(vkey: str) -> tuple[str, bytes, int, bytes]:
    """Split ``name+hexid+base64`` into (name, key ID, type byte, public key).

    The ID must equal the recommended derivation, so a typo cannot go unnoticed.
    The base64 part may itself contain '+', so the split is from the left.
    """
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise InvalidInput(f"verifier key {vkey!r} must look like <name>+<key id hex>+<base64>")
    name, id_hex, material_b64 = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise InvalidInput(f"verifier key {vkey!r}: key ID must be 8 lowercase hex digits")
    material = decode_strict_base64(material_b64, what=f"verifier key {name!r}")
    if len(material) < 2:
        raise InvalidInput(f"verifier key {name!r}: key material is empty")
    sig_type, public_key = material[0], material[1:]
    kid = bytes.fromhex(id_hex)
    if kid != key_id(name, sig_type, public_key):
        raise InvalidInput(f"verifier key {name!r}: key ID {id_hex} does not match the key")
    return name, kid, sig_type, public_key


class Verifier(Protocol):
    """Checks one key's signatures on note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, text: bytes) -> bytes: ...


@dataclass(frozen=True, kw_only=True)
class Ed25519Verifier:
    """A signed-note Ed25519 (type 0x01) verifier."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, SIG_TYPE_ED25519, public_key_bytes(self.public_key))

    @property
    def verifier_key(self) -> str:
        return format_verifier_key(self.name, SIG_TYPE_ED25519, public_key_bytes(self.public_key))

    @classmethod
    def from_verifier_key(cls, vkey: str) -> Ed25519Verifier:
        name, _, sig_type, raw = parse_verifier_key_parts(vkey)
        if sig_type != SIG_TYPE_ED25519 or len(raw) != 32:
            raise InvalidInput(f"verifier key {name!r} is not an Ed25519 note key (type 0x01)")
        return cls(name=name, public_key=Ed25519PublicKey.from_public_bytes(raw))

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, kw_only=True)
class Ed25519Signer:
    """A signed-note Ed25519 (type 0x01) signer."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(name=self.name, public_key=self.private_key.public_key())

    def sign(self, text: bytes) -> bytes:
        return self.private_key.sign(text)


@dataclass(frozen=True, kw_only=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True, kw_only=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise InvalidInput("a signed note needs at least one signature")

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


@dataclass(frozen=True, kw_only=True)
class VerifiedNote:
    note: Note
    verified: tuple[NoteSignature, ...]  # the signatures from known keys, all valid

    @property
    def text(self) -> str:
        return self.note.text


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise InvalidInput("note text must end in a newline and contain no control characters")


def sign_note(text: str, signers: Sequence[Signer]) -> Note:
    _check_text(text)
    if not signers:
        raise InvalidInput("a signed note needs at least one signer")
    data = text.encode()
    sigs = tuple(
        NoteSignature(name=s.name, key_id=s.key_id, signature=s.sign(data)) for s in signers
    )
    return Note(text=text, signatures=sigs)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise InvalidInput(f"note signature line {line!r} must start with an em dash and a space")
    name, sep, blob = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise InvalidInput(f"note signature line {line!r} has no signature")
    check_key_name(name)
    raw = decode_strict_base64(blob, what=f"signature by {name!r}")
    if len(raw) < 5:
        raise InvalidInput(f"signature by {name!r} is too short ({len(raw)} bytes)")
    return NoteSignature(name=name, key_id=raw[:4], signature=raw[4:])


def parse_note(data: bytes) -> Note:
    """Parse a signed note strictly (format only; signatures are not checked)."""
    if len(data) > MAX_NOTE_BYTES:
        raise InvalidInput(f"signed note is {len(data)} bytes, the limit is {MAX_NOTE_BYTES}")
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("signed note is not valid UTF-8") from exc
    if _CONTROL.search(s):
        raise InvalidInput("signed note contains an ASCII control character other than newline")
    if not s.endswith("\n"):
        raise InvalidInput("signed note must end with a newline")
    split = s.rfind("\n\n")
    if split < 0:
        raise InvalidInput("signed note has no blank line before its signatures")
    text, sig_block = s[: split + 1], s[split + 2 :]
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise InvalidInput("signed note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(
            f"signed note has {len(lines)} signatures, the limit is {MAX_SIGNATURES}"
        )
    return Note(text=text, signatures=tuple(_parse_signature_line(x) for x in lines))


def open_note(data: bytes | Note, verifiers: Sequence[Verifier]) -> VerifiedNote:
    """Parse and verify a note against known verifiers (see the module docstring)."""
    note = parse_note(data) if isinstance(data, bytes) else data
    known = {(v.name, v.key_id): v for v in verifiers}
    text = note.text.encode()
    verified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(text, sig.signature):
            raise VerificationError(f"the signature by {sig.name!r} on the note does not verify")
        verified.append(sig)
    if not verified:
        raise VerificationError("the note carries no signature from a known key")
    return VerifiedNote(note=note, verified=tuple(verified))
