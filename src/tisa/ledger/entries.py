"""Log entries: one small canonical JSON record per exchange event, never the item itself.

Canonical form: UTF-8 JSON with sorted keys, no insignificant whitespace, no
floats, optional fields omitted when absent. Parsing accepts only that exact
form (duplicate keys, extra fields, floats, other spacing: all refused), so one
event has one byte string and therefore one leaf hash. Entries are at most
64 KiB (the tlog-tiles entry-bundle limit is 65,535 bytes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn

from tisa.errors import InvalidInput
from tisa.ledger.merkle import leaf_hash

__all__ = ["MAX_ENTRY_BYTES", "EntryKind", "LogEntry", "format_time", "parse_entry"]

MAX_ENTRY_BYTES = 65_535


class EntryKind(StrEnum):
    ITEM_SUBMITTED = "item-submitted"
    ROUTE_DECIDED = "route-decided"
    SENT = "sent"
    RECEIVED = "received"
    RELAYED = "relayed"
    CONSENT_REQUESTED = "consent-requested"
    CONSENT_GRANTED = "consent-granted"
    CONSENT_DENIED = "consent-denied"
    CONSENT_EXPIRED = "consent-expired"
    RECEIPT_ISSUED = "receipt-issued"
    REFUSED = "refused"


_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,255}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 4096
_MAX_REFS = 64


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: seconds, plus microseconds when not zero."""
    if moment.tzinfo is None:
        raise InvalidInput("entry times must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One event. ``envelope_sha256`` is the hex SHA-256 of the exact envelope bytes."""

    kind: EntryKind
    at: str
    item_id: str
    item_version: int
    from_party: str
    to_party: str
    originator: str
    envelope_sha256: str | None = None
    reason: str | None = None
    refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Plain ifs, not a helper: messages are only formatted on failure (audit speed).
        if not isinstance(self.kind, EntryKind):
            _fail("kind", f"{self.kind!r} is not an entry kind")
        if not (isinstance(self.at, str) and _TIME.fullmatch(self.at)):
            _fail("at", f"{self.at!r} must be RFC 3339 UTC like 2026-01-31T12:00:00Z")
        try:
            datetime.fromisoformat(self.at[:-1])
        except ValueError:
            _fail("at", f"{self.at!r} is not a real time")
        if not (isinstance(self.item_id, str) and _ID.fullmatch(self.item_id)):
            _fail("item_id", "must be 1-256 characters of letters, digits and ._:/@+-")
        if not (type(self.item_version) is int and 0 <= self.item_version < 1 << 53):
            _fail("item_version", "must be a non-negative integer")
        for name, value in (
            ("from_party", self.from_party),
            ("to_party", self.to_party),
            ("originator", self.originator),
        ):
            if not (isinstance(value, str) and _CODE.fullmatch(value)):
                _fail(name, f"{value!r} is not a party code (1-64 letters, digits and ._:-)")
        digest = self.envelope_sha256
        if digest is not None and not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            _fail("envelope_sha256", "must be 64 lowercase hex digits")
        reason = self.reason
        if reason is not None and not (isinstance(reason, str) and 0 < len(reason) <= _MAX_TEXT):
            _fail("reason", f"must be 1-{_MAX_TEXT} characters")
        if self.kind is EntryKind.REFUSED and reason is None:
            _fail("reason", "a refused entry must say why")
        refs = self.refs
        if not (
            isinstance(refs, tuple)
            and len(refs) <= _MAX_REFS
            and all(isinstance(r, str) and _ID.fullmatch(r) for r in refs)
        ):
            _fail("refs", f"must be at most {_MAX_REFS} identifiers")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "at": self.at,
            "from_party": self.from_party,
            "item_id": self.item_id,
            "item_version": self.item_version,
            "kind": self.kind.value,
            "originator": self.originator,
            "refs": list(self.refs),
            "to_party": self.to_party,
        }
        if self.envelope_sha256 is not None:
            out["envelope_sha256"] = self.envelope_sha256
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    def to_bytes(self) -> bytes:
        """The canonical bytes that are logged and hashed."""
        data = _canonical(self.to_json())
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInput(
                f"log entry is {len(data)} bytes; entries are at most {MAX_ENTRY_BYTES} "
                "(log digests and ids, not content)"
            )
        return data

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.to_bytes())


def _fail(field: str, message: str) -> NoReturn:
    raise InvalidInput(f"log entry: {field}: {message}")


def _no_float(text: str) -> Any:
    raise InvalidInput(f"log entry: number {text} is not an integer; entries hold no floats")


# One encoder and decoder for all entries: building them per call costs more than using them.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)


def _canonical(obj: dict[str, Any]) -> bytes:
    return _ENCODER.encode(obj).encode()


_REQUIRED = {
    "kind",
    "at",
    "item_id",
    "item_version",
    "from_party",
    "to_party",
    "originator",
    "refs",
}
_ALLOWED = {f.name for f in fields(LogEntry)}


def parse_entry(data: bytes) -> LogEntry:
    """Parse an entry's bytes, accepting only its canonical encoding."""
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput(f"log entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
    try:
        obj = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"log entry is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidInput("log entry must be a JSON object")
    missing = _REQUIRED - obj.keys()
    unknown = obj.keys() - _ALLOWED
    if missing or unknown:
        raise InvalidInput(
            f"log entry: missing fields {sorted(missing)}, unknown fields {sorted(unknown)}"
        )
    try:
        kind = EntryKind(obj["kind"])
    except ValueError as exc:
        raise InvalidInput(f"log entry: kind {obj['kind']!r} is not an entry kind") from exc
    refs = obj.get("refs", [])
    if not isinstance(refs, list):
        raise InvalidInput("log entry: refs must be a list")
    if None in obj.values():
        raise InvalidInput("log entry: absent fields are omitted, never null")
    # A duplicate key or any other spelling re-encodes differently.
    if _canonical(obj) != data:
        raise InvalidInput("log entry is not in canonical form (sorted keys, no spaces, UTF-8)")
    return LogEntry(
        kind=kind,
        at=obj["at"],
        item_id=obj["item_id"],
        item_version=obj["item_version"],
        from_party=obj["from_party"],
        to_party=obj["to_party"],
        originator=obj["originator"],
        envelope_sha256=obj.get("envelope_sha256"),
        reason=obj.get("reason"),
        refs=tuple(refs),
    )
