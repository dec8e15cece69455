"""The messages of a peer batch, one typed parser per kind: every field is checked for its
type, its form and its length before any handler sees it, so a malformed message — even
in a batch that verified — is refused on its own with a reason naming the field (and
nothing longer than the SQL columns ever reaches the database).

A message is a JSON object with ``kind`` and exactly the fields of that kind (see
``docs/exchange.md``); unknown fields are refused too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tisa.agreements.network_file import PARTY_CODE
from tisa.crypto._encoding import JsonValue
from tisa.crypto._statement_base import MAX_VERSION, check_stix_id
from tisa.errors import InvalidInput
from tisa.exchange.protocol import CONSENT, CONSENT_REQUEST, DROPPED, ITEM, KINDS, RECEIPT
from tisa.ledger.tlog_proof import TLOG_PROOF_HEADER

#: the longest reason a peer (or an analyst's denial) may give, in characters
MAX_REASON: Final = 1000

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, kw_only=True)
class ItemMessage:
    """An item envelope, with the hub's relay statement and the originator's consent
    when it is relayed or passed on."""

    item: str
    relay: str | None = None
    consent: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConsentRequestMessage:
    """A holder (hub, or onward holder) asks the originator for consent."""

    request_id: str
    envelope_sha256: str
    item_id: str
    item_version: str
    recipient: str
    requested_at: str
    expires_at: str
    requested_us: int
    expires_us: int


@dataclass(frozen=True, kw_only=True)
class ConsentMessage:
    consent: str


@dataclass(frozen=True, kw_only=True)
class ReceiptMessage:
    receipt: str


@dataclass(frozen=True, kw_only=True)
class DroppedMessage:
    envelope_sha256: str
    reason: str


Message = ItemMessage | ConsentRequestMessage | ConsentMessage | ReceiptMessage | DroppedMessage

_FIELDS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {  # required, optional
    ITEM: (frozenset({"item"}), frozenset({"relay", "consent"})),
    CONSENT_REQUEST: (frozenset({"request_id", "envelope_sha256", "item_id", "item_version",
                                 "recipient", "requested_at", "expires_at"}), frozenset()),
    CONSENT: (frozenset({"consent"}), frozenset()),
    RECEIPT: (frozenset({"receipt"}), frozenset()),
    DROPPED: (frozenset({"envelope_sha256"}), frozenset({"reason"})),
}


def parse_message(message: Mapping[str, JsonValue]) -> Message:
    """The typed message; ``InvalidInput`` names the field and what is wrong with it."""
    kind = message.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidInput(f"message: kind {_show(kind)} is not one of "
                           f"{', '.join(sorted(KINDS))}")
    required, optional = _FIELDS[kind]
    names = set(message) - {"kind"}
    if missing := sorted(required - names):
        raise InvalidInput(f"{kind} message: missing field(s) {', '.join(missing)}")
    if unknown := sorted(names - required - optional):
        raise InvalidInput(f"{kind} message: unknown field(s) "
                           f"{', '.join(_show(n) for n in unknown[:5])}")
    f = _Fields(kind, message)
    if kind == ITEM:
        return ItemMessage(item=f.envelope("item"), relay=f.optional_envelope("relay"),
                           consent=f.optional_envelope("consent"))
    if kind == CONSENT_REQUEST:
        requested_at, expires_at = f.timestamp("requested_at"), f.timestamp("expires_at")
        requested_us, expires_us = _us(requested_at), _us(expires_at)
        if expires_us <= requested_us:
            raise f.fail("expires_at", f"{expires_at} is not after requested_at {requested_at}")
        return ConsentRequestMessage(
            request_id=f.match("request_id", _UUID, "a UUID like "
                               "3f2b8c1e-6d4a-4b7e-9c2d-1a5e8f0b7c3d", 36),
            envelope_sha256=f.match("envelope_sha256", _SHA256, "64 lower-case hex digits", 64),
            item_id=f.stix_id("item_id"), item_version=f.text("item_version", MAX_VERSION),
            recipient=f.party("recipient"), requested_at=requested_at, expires_at=expires_at,
            requested_us=requested_us, expires_us=expires_us)
    if kind == CONSENT:
        return ConsentMessage(consent=f.envelope("consent"))
    if kind == RECEIPT:
        return ReceiptMessage(receipt=f.tlog_proof("receipt"))
    return DroppedMessage(
        envelope_sha256=f.match("envelope_sha256", _SHA256, "64 lower-case hex digits", 64),
        reason=f.text("reason", MAX_REASON, empty=True) if "reason" in message else "")


def check_reason(value: object, where: str = "reason") -> str:
    """A free-text reason: a string of at most ``MAX_REASON`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a string, not {_type(value)}")
    if len(value) > MAX_REASON:
        raise InvalidInput(f"{where}: {len(value)} characters; at most {MAX_REASON}")
    if _CONTROL.search(value):
        raise InvalidInput(f"{where}: contains control characters")
    return value


def bounded_reason(text: str) -> str:
    """``text`` cut to fit ``MAX_REASON`` (for reasons this node composes from others')."""
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


class _Fields:
    def __init__(self, kind: str, message: Mapping[str, JsonValue]) -> None:
        self.kind, self.message = kind, message

    def fail(self, name: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{self.kind} message: {name}: {problem}")

    def _string(self, name: str, limit: int | None) -> str:
        value = self.message[name]
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, not {_type(value)}")
        if limit is not None and len(value) > limit:
            raise self.fail(name, f"{len(value)} characters; at most {limit}")
        return value

    def text(self, name: str, limit: int, *, empty: bool = False) -> str:
        value = self._string(name, limit)
        if not value and not empty:
            raise self.fail(name, "must not be empty")
        if _CONTROL.search(value):
            raise self.fail(name, "contains control characters")
        return value

    def match(self, name: str, pattern: re.Pattern[str], what: str, limit: int) -> str:
        value = self._string(name, limit)
        if not pattern.fullmatch(value):
            raise self.fail(name, f"{_show(value)} is not {what}")
        return value

    def stix_id(self, name: str) -> str:
        value = self._string(name, None)
        check_stix_id(value, f"{self.kind} message: {name}")
        return value

    def party(self, name: str) -> str:
        return self.match(name, PARTY_CODE, "a party code (2-16 upper-case letters or "
                          "digits, like 'KOR')", 16)

    def timestamp(self, name: str) -> str:
        value = self.match(name, _RFC3339, "an RFC 3339 time like 2019-08-23T09:00:00Z", 40)
        try:
            _us(value)
        except (ValueError, OverflowError):
            raise self.fail(name, f"{_show(value)} is not a valid date and time") from None
        return value

    def envelope(self, name: str) -> str:
        value = self._string(name, None)
        if not value:
            raise self.fail(name, "must be DSSE envelope text, not empty")
        return value

    def tlog_proof(self, name: str) -> str:
        """A receipt: C2SP tlog-proof text (checked in full where it is verified)."""
        value = self._string(name, None)
        if not value.startswith(TLOG_PROOF_HEADER + "\n"):
            raise self.fail(name, f"must be tlog-proof text (starting {TLOG_PROOF_HEADER})")
        return value

    def optional_envelope(self, name: str) -> str | None:
        return self.envelope(name) if name in self.message else None


def _us(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return int(moment.timestamp() * 1_000_000)


def _type(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
