"""The base of signed statements and the field checks they share (not public
API: use ``tisa.crypto.statements``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import ClassVar, Self

from tisa.crypto._encoding import (
    JsonValue,
    b64decode,
    canonical_json,
    check_json_value,
    fields_of,
    load_json,
)
from tisa.errors import InvalidInput
from tisa.model.levels import REFERENCE_LEVELS
from tisa.model.network import TOPIC_LABEL

# The network file's party code (tisa.agreements.network_file.PARTY_CODE; a test
# keeps the two equal) and topic label, so a statement names what a network can.
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9]{1,15}")
AGREEMENT_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # network_file.AGREEMENT_ID
TOPIC_PATTERN = TOPIC_LABEL
STIX_ID_PATTERN = re.compile(
    r"[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
#: STIX types are at most 250 characters, so identifiers at most 250 + 2 + 36
MAX_STIX_ID = 288
#: an item's version (a STIX timestamp, as a rule) is at most this long
MAX_VERSION = 64
TIMESTAMP_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
DAY_PATTERN = re.compile(r"\d{4}-\d\d-\d\d")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_CACHED_MAX_BYTES = 64 * 1024  # batches (large, seen once) are not kept


class Statement:
    """Common behaviour; subclasses are frozen dataclasses."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    PAYLOAD_TYPE: ClassVar[str]
    _REQUIRED: ClassVar[frozenset[str]]
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @property
    def signer(self) -> str:
        raise NotImplementedError

    def _fields(self) -> dict[str, JsonValue]:
        raise NotImplementedError

    @classmethod
    def _from_fields(cls, f: Fields) -> Self:
        raise NotImplementedError

    def to_json_object(self) -> dict[str, JsonValue]:
        return {"type": self.TYPE, "version": self.VERSION, **self._fields()}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json_object())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse strictly: exactly the canonical bytes of a valid statement of this kind.
        Parsing is a pure function of ``data`` and statements are immutable, so recent
        results for small payloads are kept (an exchange parses one item or consent at
        several steps); failures are not kept, they raise."""
        if len(data) > _CACHED_MAX_BYTES:
            return cls._parse(data)
        # (classes are hashable; typeshed's lru_cache signature does not say so for type[Self])
        return _parse_cached(cls, bytes(data))  # type: ignore[arg-type,return-value]

    @classmethod
    def _parse(cls, data: bytes) -> Self:
        where = cls.TYPE
        obj = fields_of(
            load_json(data, where),
            where,
            required=cls._REQUIRED | {"type", "version"},
            optional=cls._OPTIONAL,
        )
        if obj["type"] != cls.TYPE:
            raise InvalidInput(f"{where}: type is {obj['type']!r}, expected {cls.TYPE!r}")
        if obj["version"] != cls.VERSION or isinstance(obj["version"], bool):
            raise InvalidInput(f"{where}: version {obj['version']!r} is not supported")
        statement = cls._from_fields(Fields(obj, where))
        if statement.to_bytes() != data:
            raise InvalidInput(f"{where}: not in canonical form")
        return statement


class Fields:
    """Typed access to a parsed JSON object, naming the field on error."""

    def __init__(self, obj: Mapping[str, object], where: str) -> None:
        self.obj, self.where = obj, where

    def text(self, name: str) -> str:
        value = self.obj[name]
        if not isinstance(value, str):
            raise InvalidInput(f"{self.where}: {name} must be a string")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.obj[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{self.where}: {name} must be a list of strings")
        return tuple(value)

    def optional_texts(self, name: str) -> tuple[str, ...] | None:
        return self.texts(name) if name in self.obj else None

    def optional_text(self, name: str) -> str | None:
        return self.text(name) if name in self.obj else None

    def blob(self, name: str) -> bytes:
        return b64decode(self.obj[name], f"{self.where}: {name}")

    def value(self, name: str) -> JsonValue:
        return check_json_value(self.obj[name], f"{self.where}: {name}")


def fail(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}")


def check_code(value: str, where: str) -> None:
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        raise fail(where, f"{value!r} is not a party code (upper case, like 'KOR')")


def check_codes(values: tuple[str, ...], where: str) -> None:
    for value in values:
        check_code(value, where)


def normalized_set(values: object, where: str) -> tuple[str, ...]:
    """Sets travel sorted and without repeats, so they have one text."""
    if not isinstance(values, tuple | list | frozenset | set) or not all(
        isinstance(v, str) for v in values
    ):
        raise fail(where, "must be a collection of strings")
    return tuple(sorted(set(values)))


def check_topic(value: str, where: str) -> None:
    if not TOPIC_PATTERN.fullmatch(value):
        raise fail(where, f"{value!r} is not a topic label (like 'nk-missile')")


def check_agreement_id(value: str, where: str) -> None:
    if not isinstance(value, str) or not AGREEMENT_PATTERN.fullmatch(value):
        raise fail(where, f"{value!r} is not an agreement id (like 'tisa-2014')")


def check_level(value: str, where: str) -> None:
    if value not in REFERENCE_LEVELS:
        raise fail(where, f"{value!r} is not one of {', '.join(REFERENCE_LEVELS)}")


def check_text(value: str, where: str, *, empty: bool = False) -> None:
    if not isinstance(value, str) or (not value and not empty):
        raise fail(where, "must be a non-empty string" if not empty else "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(where, "string is not valid Unicode") from None


def check_hex(value: str, where: str, length: int) -> None:
    if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
        raise fail(where, f"must be {length} lower-case hex digits")


def check_timestamp(value: str, where: str) -> None:
    if not (isinstance(value, str) and TIMESTAMP_PATTERN.fullmatch(value) and _parses(value)):
        raise fail(where, f"{value!r} is not an RFC 3339 UTC time like 2019-08-23T09:00:00Z")


def check_day(value: str, where: str) -> None:
    if not (isinstance(value, str) and DAY_PATTERN.fullmatch(value) and _parses(value)):
        raise fail(where, f"{value!r} is not a date like 2019-08-23")


def _parses(value: str) -> bool:
    try:
        (datetime if "T" in value else date).fromisoformat(value)
    except ValueError:
        return False
    return True


def check_stix_id(value: str, where: str) -> None:
    if isinstance(value, str) and len(value) > MAX_STIX_ID:
        raise fail(where, f"{len(value)} characters; a STIX identifier has at most {MAX_STIX_ID}")
    if not isinstance(value, str) or not STIX_ID_PATTERN.fullmatch(value):
        raise fail(where, f"{value!r} is not a STIX identifier like bundle--<uuid>")


def check_version(value: str, where: str) -> None:
    """An item version: non-empty text of at most ``MAX_VERSION`` characters."""
    check_text(value, where)
    if len(value) > MAX_VERSION:
        raise fail(where, f"{len(value)} characters; at most {MAX_VERSION}")


@lru_cache(maxsize=2048)
def _parse_cached(kind: type[Statement], data: bytes) -> Statement:
    """Statements parsed lately, by kind and exact bytes (see ``Statement.from_bytes``)."""
    return kind._parse(data)
