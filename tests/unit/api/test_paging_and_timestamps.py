"""next tokens and TAXII timestamps: round trips, and every kind of tampering refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tisa.api.paging import BadNextToken, PageTokens, query_digest
from tisa.api.timestamps import format_timestamp, parse_timestamp
from tisa.errors import InvalidInput
from tisa.store.ports import Cursor

TOKENS = PageTokens(b"k" * 32)


@given(st.integers(0, 2**62), st.integers(0, 2**62))
def test_token_round_trip(added: int, seq: int) -> None:
    digest = query_digest("c", "u", "objects")
    token = TOKENS.issue(Cursor(date_added_us=added, seq=seq), digest)
    assert TOKENS.read(token, digest) == Cursor(date_added_us=added, seq=seq)


def test_token_is_bound_to_query_and_key() -> None:
    digest = query_digest("c", "u", "objects")
    token = TOKENS.issue(Cursor(date_added_us=5, seq=6), digest)
    with pytest.raises(BadNextToken):
        TOKENS.read(token, query_digest("c", "u", "manifest"))
    with pytest.raises(BadNextToken):
        PageTokens(b"x" * 32).read(token, digest)
    payload, tag = token.split(".")
    for bad in (payload + "." + tag[::-1], payload[::-1] + "." + tag, token + ".", "", "a.b"):
        with pytest.raises(BadNextToken):
            TOKENS.read(bad, digest)


@given(st.integers(0, 253_402_300_799_999_999))
def test_timestamp_round_trip(us: int) -> None:
    assert parse_timestamp(format_timestamp(us)) == us


def test_timestamp_precision_and_errors() -> None:
    assert parse_timestamp("1970-01-01T00:00:01Z") == 1_000_000
    assert parse_timestamp("1970-01-01T00:00:00.123456789Z") == 123_456
    assert format_timestamp(1) == "1970-01-01T00:00:00.000001Z"
    for bad in ("2026-02-30T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00+09:00", "now"):
        with pytest.raises(InvalidInput):
            parse_timestamp(bad)
