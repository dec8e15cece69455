"""The item statement: an originator's signed item for one final recipient.

The recipient is named inside the signed payload (Davis, "Defective Sign &
Encrypt"), so a receiver cannot re-wrap an item and pass it on as if it had
been sent to someone else. The content travels in clear (``content``) or
sealed with HPKE to the final recipient (``sealed``); the hub then routes on
the header alone, and the header is the AAD of the seal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from tisa.crypto._encoding import (
    JsonValue,
    b64encode,
    canonical_json,
    check_json_value,
    load_json,
)
from tisa.crypto._statement_base import (
    Fields,
    Statement,
    check_code,
    check_codes,
    check_hex,
    check_level,
    check_stix_id,
    check_timestamp,
    check_topic,
    check_version,
    fail,
    normalized_set,
    sha256_hex,
)
from tisa.crypto.sealing import open_sealed, seal
from tisa.errors import InvalidInput, VerificationError

__all__ = ["ItemStatement", "item_content", "new_item_statement"]

_PLACEHOLDER = b"\x00"  # stands in for the seal while the header is built


@dataclass(frozen=True, kw_only=True)
class ItemStatement(Statement):
    """An originator's item for one final recipient, with the content in clear
    or sealed to that recipient (the hub then routes on the header alone)."""

    TYPE: ClassVar[str] = "tisa.item"
    PAYLOAD_TYPE: ClassVar[str] = "application/vnd.tisa.item+json"
    _REQUIRED: ClassVar[frozenset[str]] = frozenset(
        [
            "originator",
            "recipient",
            "path",
            "item_id",
            "item_version",
            "level",
            "topics",
            "created",
            "nonce",
            "content_sha256",
        ]
    )
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"rel_to", "consent_to", "content", "sealed"})

    originator: str
    recipient: str
    path: tuple[str, ...]
    item_id: str
    item_version: str
    level: str
    topics: tuple[str, ...]
    created: str
    nonce: str
    content_sha256: str
    rel_to: tuple[str, ...] | None = None
    consent_to: tuple[str, ...] | None = None
    content: dict[str, JsonValue] | None = field(default=None, hash=False)
    sealed: bytes | None = None

    def __post_init__(self) -> None:
        w = self.TYPE
        check_code(self.originator, f"{w}: originator")
        check_code(self.recipient, f"{w}: recipient")
        if not isinstance(self.path, tuple):
            raise fail(w, "path must be a tuple of party codes")
        check_codes(self.path, f"{w}: path")
        if len(self.path) < 2 or len(set(self.path)) != len(self.path):
            raise fail(w, f"path {list(self.path)} must name two or more distinct parties")
        if (self.path[0], self.path[-1]) != (self.originator, self.recipient):
            raise fail(w, "path must run from the originator to the recipient")
        check_stix_id(self.item_id, f"{w}: item_id")
        check_version(self.item_version, f"{w}: item_version")
        check_level(self.level, f"{w}: level")
        object.__setattr__(self, "topics", normalized_set(self.topics, f"{w}: topics"))
        for topic in self.topics:
            check_topic(topic, f"{w}: topics")
        for name in ("rel_to", "consent_to"):
            if (values := getattr(self, name)) is not None:
                values = normalized_set(values, f"{w}: {name}")
                check_codes(values, f"{w}: {name}")
                object.__setattr__(self, name, values)
        check_timestamp(self.created, f"{w}: created")
        check_hex(self.nonce, f"{w}: nonce", 32)
        check_hex(self.content_sha256, f"{w}: content_sha256", 64)
        self._check_body()
        self._check_releasability()

    def _check_body(self) -> None:
        w = self.TYPE
        if (self.content is None) == (self.sealed is None):
            raise fail(w, "needs exactly one of content and sealed")
        if self.content is not None:
            if not isinstance(self.content, dict):
                raise fail(w, "content must be a JSON object (a STIX bundle or object)")
            check_json_value(self.content, f"{w}: content")
            if sha256_hex(canonical_json(self.content)) != self.content_sha256:
                raise fail(w, "content_sha256 is not the SHA-256 of the canonical content")
        elif not isinstance(self.sealed, bytes) or not self.sealed:
            raise fail(w, "sealed must be non-empty bytes")

    def _check_releasability(self) -> None:
        # Fail closed here too: never a signed item that its own REL TO forbids.
        if self.rel_to is None:
            return
        if self.recipient not in self.rel_to:
            raise fail(self.TYPE, f"recipient {self.recipient} is not in rel_to")
        hubs = [p for p in self.path[1:-1] if p not in self.rel_to]
        if hubs and self.content is not None:
            raise fail(self.TYPE, f"{', '.join(hubs)} not in rel_to: the content must be sealed")

    @property
    def signer(self) -> str:
        return self.originator

    def header_object(self) -> dict[str, JsonValue]:
        """Every field but the body: what a hub routes on, and the AAD of a seal."""
        fields: dict[str, JsonValue] = {
            "type": self.TYPE,
            "version": self.VERSION,
            "originator": self.originator,
            "recipient": self.recipient,
            "path": list(self.path),
            "item_id": self.item_id,
            "item_version": self.item_version,
            "level": self.level,
            "topics": list(self.topics),
            "created": self.created,
            "nonce": self.nonce,
            "content_sha256": self.content_sha256,
        }
        if self.rel_to is not None:
            fields["rel_to"] = list(self.rel_to)
        if self.consent_to is not None:
            fields["consent_to"] = list(self.consent_to)
        return fields

    def header_bytes(self) -> bytes:
        return canonical_json(self.header_object())

    def _fields(self) -> dict[str, JsonValue]:
        fields = self.header_object()
        del fields["type"], fields["version"]
        if self.content is not None:
            fields["content"] = self.content
        if self.sealed is not None:
            fields["sealed"] = b64encode(self.sealed)
        return fields

    @classmethod
    def _from_fields(cls, f: Fields) -> ItemStatement:
        content = f.obj.get("content")  # checked in full by the constructor
        if content is not None and not isinstance(content, dict):
            raise fail(f.where, "content must be a JSON object (a STIX bundle or object)")
        return cls(
            originator=f.text("originator"),
            recipient=f.text("recipient"),
            path=f.texts("path"),
            item_id=f.text("item_id"),
            item_version=f.text("item_version"),
            level=f.text("level"),
            topics=f.texts("topics"),
            created=f.text("created"),
            nonce=f.text("nonce"),
            content_sha256=f.text("content_sha256"),
            rel_to=f.optional_texts("rel_to"),
            consent_to=f.optional_texts("consent_to"),
            content=content,
            sealed=f.blob("sealed") if "sealed" in f.obj else None,
        )


def new_item_statement(
    *,
    originator: str,
    recipient: str,
    path: tuple[str, ...],
    item_id: str,
    item_version: str,
    level: str,
    topics: tuple[str, ...],
    created: str,
    content: dict[str, JsonValue],
    rel_to: tuple[str, ...] | None = None,
    consent_to: tuple[str, ...] | None = None,
    seal_to: X25519PublicKey | None = None,
    nonce: str | None = None,
) -> ItemStatement:
    """An item statement with a fresh nonce and the content digest filled in;
    with ``seal_to`` (the recipient's X25519 key) the content is sealed to it."""
    body = canonical_json(check_json_value(content, "content"))
    statement = ItemStatement(
        originator=originator,
        recipient=recipient,
        path=path,
        item_id=item_id,
        item_version=item_version,
        level=level,
        topics=topics,
        created=created,
        nonce=secrets.token_hex(16) if nonce is None else nonce,
        content_sha256=sha256_hex(body),
        rel_to=rel_to,
        consent_to=consent_to,
        content=None if seal_to is not None else content,
        sealed=_PLACEHOLDER if seal_to is not None else None,
    )
    if seal_to is None:
        return statement
    sealed = seal(body, seal_to, recipient=recipient, aad=statement.header_bytes())
    return replace(statement, sealed=sealed)


def item_content(
    statement: ItemStatement, seal_key: X25519PrivateKey | None = None
) -> dict[str, JsonValue]:
    """The content of an item, opening it with the recipient's sealing key if
    it is sealed. Raises ``VerificationError`` if it does not open or its
    digest is not ``content_sha256``."""
    if statement.content is not None:
        return statement.content  # checked against content_sha256 on construction
    assert statement.sealed is not None
    if seal_key is None:
        raise InvalidInput(f"item {statement.item_id} is sealed: it needs the sealing key")
    body = open_sealed(
        statement.sealed, seal_key, recipient=statement.recipient, aad=statement.header_bytes()
    )
    problem = "its digest is not content_sha256"
    if sha256_hex(body) == statement.content_sha256:
        try:
            content = check_json_value(load_json(body, "sealed content"), "sealed content")
        except InvalidInput as exc:
            problem = str(exc)
        else:
            if isinstance(content, dict) and canonical_json(content) == body:
                return content
            problem = "it is not a canonical JSON object"
    raise VerificationError(
        "sealed item did not open", detail=f"sealed content of {statement.item_id}: {problem}"
    )
