"""C2SP tlog-proof (c2sp.org/tlog-proof): an offline-verifiable receipt that an entry is logged.

Format (lines end in a newline)::

    c2sp.org/tlog-proof@v1
    extra <base64>            optional, unauthenticated application data
    index <leaf index>
    <base64 inclusion proof hash>   zero or more, leaf sibling first
    <empty line>
    <signed checkpoint note, verbatim, with any cosignatures>

The record itself is not authenticated by the proof: the verifier supplies the
entry's leaf hash it wants proven (tisa receipts carry the entry's bytes in
``extra``, and the verifier hashes them), with the log's key and, optionally,
witness keys.

Many proofs share one checkpoint (all the receipts of one batch); a
:class:`CheckpointCache` lets them share its signature check too.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import cast

from tisa.crypto.keys import public_key_bytes
from tisa.errors import InvalidInput, VerificationError
from tisa.ledger.checkpoint import (
    Checkpoint,
    SignedCheckpoint,
    format_size,
    open_checkpoint,
    parse_size,
)
from tisa.ledger.cosignature import count_cosigners
from tisa.ledger.note import Ed25519Verifier, Verifier, decode_strict_base64, parse_note
from tisa.ledger.proofs import verify_inclusion

__all__ = ["TLOG_PROOF_HEADER", "CheckpointCache", "TlogProof", "parse_tlog_proof",
           "verify_tlog_proof"]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_MAX_PROOF_HASHES = 64


@dataclass(frozen=True, kw_only=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: bytes
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {format_size(self.index)}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint_note


def parse_tlog_proof(data: bytes, *, check_note: bool = True) -> TlogProof:
    """Parse a tlog-proof strictly. ``check_note=False`` leaves the checkpoint note
    unparsed, for a caller that hands the result to ``verify_tlog_proof`` at once (which
    opens the note, or finds it already opened in its ``checkpoint_cache``)."""
    head, sep, note = data.partition(b"\n\n")
    if not sep:
        raise InvalidInput("tlog-proof has no blank line before its checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput("tlog-proof header lines must be ASCII") from exc
    if lines[0] != TLOG_PROOF_HEADER:
        raise InvalidInput(f"tlog-proof must start with the line {TLOG_PROOF_HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = decode_strict_base64(rest[0][6:], what="tlog-proof extra data")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise InvalidInput("tlog-proof needs an 'index <n>' line")
    index = parse_size(rest[0][6:], what="tlog-proof index")
    hashes = rest[1:]
    if len(hashes) > _MAX_PROOF_HASHES:
        raise InvalidInput(f"tlog-proof has {len(hashes)} proof lines; at most {_MAX_PROOF_HASHES}")
    proof = []
    for i, line in enumerate(hashes):
        h = decode_strict_base64(line, what=f"tlog-proof hash {i + 1}")
        if len(h) != 32:
            raise InvalidInput(f"tlog-proof hash {i + 1} is not 32 bytes")
        proof.append(h)
    if check_note:
        parse_note(note)  # the checkpoint must at least be a well-formed note
    return TlogProof(index=index, proof=tuple(proof), checkpoint_note=note, extra=extra)


class CheckpointCache:
    """Checkpoints whose log signature verified, so proofs against the same note skip it.

    The key is the exact note bytes (signatures and cosignatures included), the
    origin and the verifiers' identities (an Ed25519 verifier by name and full
    public key, any other by itself), so a note opened under one key is never
    taken as opened under another. Only notes that opened are stored. Bounded
    (least recently used out first); safe to share between threads (no lock: a
    race at worst verifies a note twice).
    """

    def __init__(self, max_entries: int = 64) -> None:
        if max_entries < 1:
            raise InvalidInput("a checkpoint cache holds at least one checkpoint")
        self._max = max_entries
        self._opened: OrderedDict[Hashable, SignedCheckpoint] = OrderedDict()

    def __len__(self) -> int:
        return len(self._opened)

    def open(self, note: bytes, verifiers: Sequence[Verifier], *, origin: str
             ) -> SignedCheckpoint:
        """``open_checkpoint(note, verifiers, origin=origin)``, once per distinct note."""
        key = (note, origin, tuple(_identity(v) for v in verifiers))
        signed = self._opened.get(key)
        if signed is not None:
            try:  # noqa: SIM105 (the ledger core imports no contextlib)
                self._opened.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile
                pass
            return signed
        signed = open_checkpoint(note, verifiers, origin=origin)  # raises unless it verifies
        self._opened[key] = signed
        while len(self._opened) > self._max:
            try:
                self._opened.popitem(last=False)
            except KeyError:
                break
        return signed


def _identity(verifier: Verifier) -> Hashable:
    if isinstance(verifier, Ed25519Verifier):
        return (verifier.name, public_key_bytes(verifier.public_key))
    return cast(Hashable, verifier)  # by identity, unless it defines its own equality


def verify_tlog_proof(
    proof: TlogProof | bytes,
    *,
    leaf_hash: bytes,
    log_verifiers: Sequence[Verifier],
    origin: str,
    witness_verifiers: Sequence[Verifier] = (),
    witness_quorum: int = 0,
    checkpoint_cache: CheckpointCache | None = None,
) -> Checkpoint:
    """Verify offline that ``leaf_hash`` is at ``proof.index`` in a checkpoint signed by
    the log and cosigned by at least ``witness_quorum`` of the given witnesses.

    With a ``checkpoint_cache``, a note already opened under the same verifiers and
    origin is not verified again (the inclusion proof always is)."""
    # the note is parsed (strictly) where it is opened, or was when it entered the cache
    parsed = parse_tlog_proof(proof, check_note=False) if isinstance(proof, bytes) else proof
    if checkpoint_cache is None:
        signed = open_checkpoint(parsed.checkpoint_note, log_verifiers, origin=origin)
    else:
        signed = checkpoint_cache.open(parsed.checkpoint_note, log_verifiers, origin=origin)
    checkpoint = signed.checkpoint
    cosigned = count_cosigners(signed.note, witness_verifiers)
    if cosigned < witness_quorum:
        raise VerificationError(
            f"checkpoint is cosigned by {cosigned} known witness(es); {witness_quorum} required"
        )
    verify_inclusion(parsed.index, checkpoint.size, leaf_hash, parsed.proof, checkpoint.root_hash)
    return checkpoint
