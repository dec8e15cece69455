"""``next`` tokens: opaque, bound to the query that produced them, HMAC-protected.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload)[:16])`` where the
payload carries the position (date added, seq) and a digest of the query. A token that was
altered, forged or replayed against another query is refused as one opaque error."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tisa.errors import InvalidInput
from tisa.store.ports import Cursor


class BadNextToken(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "the next token is not valid for this query; start again without next"
        )


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"tisa next token\x00" + secret).digest()

    def issue(self, cursor: Cursor, query_digest: str) -> str:
        payload = json.dumps(
            [cursor.date_added_us, cursor.seq, query_digest], separators=(",", ":")
        ).encode()
        tag = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return _b64(payload) + "." + _b64(tag)

    def read(self, token: str, query_digest: str) -> Cursor:
        try:
            payload_text, tag_text = token.split(".")
            payload, tag = _unb64(payload_text), _unb64(tag_text)
        except ValueError:
            raise BadNextToken() from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(tag, expected):
            raise BadNextToken()
        try:
            added, seq, digest = json.loads(payload)
        except (ValueError, TypeError):
            raise BadNextToken() from None
        if digest != query_digest or not isinstance(added, int) or not isinstance(seq, int):
            raise BadNextToken()
        return Cursor(date_added_us=added, seq=seq)


def query_digest(*parts: object) -> str:
    text = json.dumps([repr(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    import binascii

    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
