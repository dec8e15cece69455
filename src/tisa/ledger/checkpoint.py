"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed tree head of a log.

The note text is at least three non-empty lines::

    <origin>
    <tree size in decimal, no leading zeroes>
    <base64 of the RFC 6962 root hash>
    [<extension line> ...]

Parsing is strict: a checkpoint that does not re-format to the same bytes is
refused with ``InvalidInput``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tisa.errors import IntegrityError, InvalidInput, VerificationError
from tisa.ledger.note import (
    Note,
    Signer,
    VerifiedNote,
    Verifier,
    decode_strict_base64,
    open_note,
    parse_note,
    sign_note,
)
from tisa.ledger.proofs import verify_consistency

__all__ = [
    "MAX_TREE_SIZE",
    "Checkpoint",
    "SignedCheckpoint",
    "format_size",
    "next_checkpoint",
    "open_checkpoint",
    "parse_checkpoint_text",
    "parse_size",
    "sign_checkpoint",
]

MAX_TREE_SIZE = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x1f]")


def format_size(n: int) -> str:
    return str(n)


def parse_size(text: str, *, what: str) -> int:
    """A decimal without leading zeroes in [0, 2**63 - 1]."""
    if not _DECIMAL.fullmatch(text) or len(text) > 19:
        raise InvalidInput(f"{what}: {text!r} is not a decimal without leading zeroes")
    n = int(text)
    if n > MAX_TREE_SIZE:
        raise InvalidInput(f"{what}: {n} is larger than 2**63 - 1")
    return n


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or _CONTROL.search(self.origin):
            raise InvalidInput("checkpoint origin must be a non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint size {self.size} is out of range")
        if len(self.root_hash) != 32:
            raise InvalidInput(f"checkpoint root hash has {len(self.root_hash)} bytes, not 32")
        for ext in self.extensions:
            if not ext or _CONTROL.search(ext):
                raise InvalidInput("checkpoint extension lines must be non-empty lines")

    def to_text(self) -> str:
        """The note text, ending in a newline."""
        lines = [
            self.origin,
            format_size(self.size),
            base64.b64encode(self.root_hash).decode("ascii"),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"


def parse_checkpoint_text(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise InvalidInput("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidInput(
            f"checkpoint has {len(lines)} line(s); it needs origin, size and root hash"
        )
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise InvalidInput("checkpoint origin line is empty")
    size = parse_size(size_text, what="checkpoint size")
    root = decode_strict_base64(root_text, what="checkpoint root hash")
    if len(root) != 32:
        raise InvalidInput(f"checkpoint root hash has {len(root)} bytes, a SHA-256 hash has 32")
    if any(not e for e in extensions):
        raise InvalidInput("checkpoint extension lines must be non-empty")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))


@dataclass(frozen=True, kw_only=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note
    verified: VerifiedNote | None = None  # set by open_checkpoint

    def to_bytes(self) -> bytes:
        return self.note.to_bytes()


def sign_checkpoint(checkpoint: Checkpoint, signers: Sequence[Signer]) -> SignedCheckpoint:
    """Sign as a note; the log's key name should be the origin (tlog-checkpoint)."""
    note = sign_note(checkpoint.to_text(), signers)
    return SignedCheckpoint(checkpoint=checkpoint, note=note)


def open_checkpoint(
    data: bytes | Note, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> SignedCheckpoint:
    """Parse a signed checkpoint, require the expected origin, verify its signatures."""
    note = parse_note(data) if isinstance(data, bytes) else data
    checkpoint = parse_checkpoint_text(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    verified = open_note(note, verifiers)
    return SignedCheckpoint(checkpoint=checkpoint, note=note, verified=verified)


def next_checkpoint(
    previous: Checkpoint | None,
    *,
    origin: str,
    size: int,
    root_hash: bytes,
    consistency_proof: Sequence[bytes],
) -> Checkpoint:
    """The checkpoint to sign next, only if it extends the last one signed.

    A log must never sign two inconsistent checkpoints (tlog-checkpoint), also
    across restarts: the store passes the last checkpoint it signed and a proof
    from its own tree. Anything else is an ``IntegrityError``, never downgraded.
    """
    if previous is not None:
        if previous.origin != origin:
            raise IntegrityError(
                f"the last signed checkpoint is for origin {previous.origin!r}, not {origin!r}"
            )
        try:
            verify_consistency(
                previous.size, size, previous.root_hash, root_hash, consistency_proof
            )
        except VerificationError as exc:
            raise IntegrityError(
                f"refusing to sign size {size}: the tree does not extend the checkpoint of "
                f"size {previous.size} already signed ({exc})"
            ) from exc
    return Checkpoint(origin=origin, size=size, root_hash=root_hash)
