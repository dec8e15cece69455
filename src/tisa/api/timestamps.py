"""STIX/TAXII timestamps <-> integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from tisa.errors import InvalidInput

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str, *, what: str = "timestamp") -> int:
    """``2026-01-02T03:04:05.123456Z`` -> µs. Digits past the microsecond are dropped."""
    if isinstance(text, str):
        known = _parsed(text)
        if known is not None:
            return known
    return _parse(text, what)


@lru_cache(maxsize=4096)
def _parsed(text: str) -> int | None:
    try:
        return _parse(text, "timestamp")
    except InvalidInput:
        return None


def _parse(text: str, what: str) -> int:
    match = _TIMESTAMP.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"{what} {text!r} is not a timestamp; use RFC 3339 in UTC, "
            f"e.g. 2026-01-02T03:04:05.123456Z"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"{what} {text!r} is not a real date and time ({exc})") from None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + int(fraction)


def format_timestamp(us: int) -> str:
    """µs -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (TAXII wants microsecond precision)."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
