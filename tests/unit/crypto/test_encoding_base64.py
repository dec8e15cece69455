"""Strict base64: one text per value, standard or URL-safe alphabet, padding optional."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tisa.crypto._encoding import b64decode
from tisa.errors import InvalidInput

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_="


def whole_text_check(text: str) -> bytes | None:
    """The rule stated plainly: decode, and the value's own text must be the text given."""
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            return None
        text = text.replace("-", "+").replace("_", "/")
    if "=" in text and len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii").rstrip("=") != text.rstrip("="):
        return None
    return raw


def assert_judged_as_whole_text(text: str) -> None:
    """``b64decode`` accepts exactly what the whole-text rule accepts, with its value."""
    expected = whole_text_check(text)
    if expected is None:
        with pytest.raises(InvalidInput):
            b64decode(text, "x")
    else:
        assert b64decode(text, "x") == expected


@settings(max_examples=400)
@given(data=st.binary(max_size=40), strip=st.booleans(), url=st.booleans(),
       flip=st.integers(0, 63))
def test_accepts_exactly_the_canonical_texts(data: bytes, strip: bool, url: bool,
                                             flip: int) -> None:
    text = base64.b64encode(data).decode("ascii")
    if strip:
        text = text.rstrip("=")
    if url:
        text = text.replace("+", "-").replace("/", "_")
    body = text.rstrip("=")
    if body:  # change the last symbol: stray low bits, or another value
        last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[flip]
        if url:
            last = last.replace("+", "-").replace("/", "_")
        text = body[:-1] + last + text[len(body):]
    assert_judged_as_whole_text(text)


@settings(max_examples=400)
@given(text=st.text(alphabet=ALPHABET, max_size=12))
def test_any_text_is_judged_as_by_the_whole_text_rule(text: str) -> None:
    assert_judged_as_whole_text(text)
