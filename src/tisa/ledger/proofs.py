"""Verification of Merkle inclusion and consistency proofs, RFC 9162 §2.1.3.2 / §2.1.4.2.

Both functions return ``None`` or raise :class:`~tisa.errors.VerificationError`;
nothing else. They follow the RFC's algorithms step by step, including the
right-edge step ("right-shift fn and sn equally until LSB(fn) is set or fn is 0")
whose omission breaks proofs for leaves on the right edge of the tree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from tisa.errors import VerificationError

__all__ = ["root_from_inclusion_proof", "verify_consistency", "verify_inclusion"]

_HASH_SIZE = 32


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if len(h) != _HASH_SIZE:
            raise VerificationError(f"{what}[{i}] has {len(h)} bytes, a hash has {_HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    _check_hashes("leaf hash", [leaf_hash])
    _check_hashes("inclusion proof", proof)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is high")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``."""
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if not hmac.compare_digest(computed, root):
        raise VerificationError(
            f"inclusion proof for leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends (old_size, old_root).

    Per RFC 9162 a proof from size 0 is empty (everything extends the empty tree)
    and a proof between equal sizes is empty with equal roots.
    """
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"size {new_size} cannot extend size {old_size}")
    _check_hashes("consistency proof", proof)
    if old_size == new_size:
        if proof:
            raise VerificationError("a consistency proof between equal sizes must be empty")
        if not hmac.compare_digest(old_root, new_root):
            raise VerificationError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise VerificationError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise VerificationError(f"empty consistency proof from size {old_size} to {new_size}")
    path = list(proof)
    # Step 2: if first is an exact power of two, it is the first node of the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than needed")
    if not hmac.compare_digest(fr, old_root):
        raise VerificationError(f"consistency proof does not reproduce the root of size {old_size}")
    if not hmac.compare_digest(sr, new_root):
        raise VerificationError(f"consistency proof does not reproduce the root of size {new_size}")
