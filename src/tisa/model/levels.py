"""The common reference scale every party's native level names map onto."""

from __future__ import annotations

from typing import Final

from tisa.errors import InvalidInput

#: Reference levels, lowest first; a level's rank is its index.
REFERENCE_LEVELS: Final = ("UNCLASSIFIED", "CONFIDENTIAL", "SECRET", "TOP SECRET")

_RANKS: Final = {name: rank for rank, name in enumerate(REFERENCE_LEVELS)}


def is_reference_level(name: str) -> bool:
    return name in _RANKS


def reference_rank(name: str) -> int:
    """Rank of a reference level name; unknown names are an error, never a default."""
    try:
        return _RANKS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown reference level {name!r}; use one of: {', '.join(REFERENCE_LEVELS)}"
        ) from None


def reference_name(rank: int) -> str:
    if not 0 <= rank < len(REFERENCE_LEVELS):
        raise InvalidInput(f"level rank {rank} is outside the reference scale")
    return REFERENCE_LEVELS[rank]
