"""The signed wrappers of node-to-node requests and responses.

A peer request is one ``BatchStatement`` (sender, receiver, time, nonce and a list of
messages), signed by the sending node; the answer is one ``BatchReplyStatement`` signed by
the receiving node, naming the request's envelope digest (``in_reply_to``) and holding one
result per message, in order. Messages and results are JSON objects; signed statements
they carry (items, consents, relay statements) travel as DSSE envelope text, so the
originator's signature survives every hop; receipts travel as the receiver's tlog-proof
text (its checkpoint signature survives every hop the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tisa.crypto._encoding import JsonValue, check_json_value
from tisa.crypto._statement_base import (
    Fields,
    Statement,
    check_code,
    check_hex,
    check_timestamp,
    fail,
)

__all__ = ["MAX_MESSAGES", "BatchReplyStatement", "BatchStatement"]

#: More messages than this in one request is refused (work per request is bounded).
MAX_MESSAGES = 1000


def _objects(value: object, where: str) -> tuple[dict[str, JsonValue], ...]:
    if not isinstance(value, list | tuple) or len(value) > MAX_MESSAGES:
        raise fail(where, f"must be a list of at most {MAX_MESSAGES} objects")
    out = []
    for v in value:
        if not isinstance(v, dict):
            raise fail(where, "every entry must be a JSON object")
        checked = check_json_value(v, where)
        assert isinstance(checked, dict)
        out.append(checked)
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class BatchStatement(Statement):
    """One request from ``sender``'s node to ``receiver``'s node."""

    TYPE: ClassVar[str] = "tisa.batch"
    PAYLOAD_TYPE: ClassVar[str] = "application/vnd.tisa.batch+json"
    _REQUIRED: ClassVar[frozenset[str]] = frozenset(
        {"sender", "receiver", "sent_at", "nonce", "messages"}
    )

    sender: str
    receiver: str
    sent_at: str
    nonce: str
    messages: tuple[dict[str, JsonValue], ...] = field(hash=False)

    def __post_init__(self) -> None:
        w = self.TYPE
        check_code(self.sender, f"{w}: sender")
        check_code(self.receiver, f"{w}: receiver")
        if self.sender == self.receiver:
            raise fail(w, "sender and receiver must differ")
        check_timestamp(self.sent_at, f"{w}: sent_at")
        check_hex(self.nonce, f"{w}: nonce", 32)
        object.__setattr__(self, "messages", _objects(self.messages, f"{w}: messages"))

    @property
    def signer(self) -> str:
        return self.sender

    def _fields(self) -> dict[str, JsonValue]:
        return {
            "sender": self.sender,
            "receiver": self.receiver,
            "sent_at": self.sent_at,
            "nonce": self.nonce,
            "messages": list(self.messages),
        }

    @classmethod
    def _from_fields(cls, f: Fields) -> BatchStatement:
        return cls(
            sender=f.text("sender"),
            receiver=f.text("receiver"),
            sent_at=f.text("sent_at"),
            nonce=f.text("nonce"),
            messages=_objects(f.value("messages"), f"{f.where}: messages"),
        )


@dataclass(frozen=True, kw_only=True)
class BatchReplyStatement(Statement):
    """The receiving node's answer to one batch: one result per message, in order."""

    TYPE: ClassVar[str] = "tisa.batch-reply"
    PAYLOAD_TYPE: ClassVar[str] = "application/vnd.tisa.batch-reply+json"
    _REQUIRED: ClassVar[frozenset[str]] = frozenset(
        {"sender", "receiver", "sent_at", "in_reply_to", "results"}
    )

    sender: str
    receiver: str
    sent_at: str
    in_reply_to: str
    results: tuple[dict[str, JsonValue], ...] = field(hash=False)

    def __post_init__(self) -> None:
        w = self.TYPE
        check_code(self.sender, f"{w}: sender")
        check_code(self.receiver, f"{w}: receiver")
        check_timestamp(self.sent_at, f"{w}: sent_at")
        check_hex(self.in_reply_to, f"{w}: in_reply_to", 64)
        object.__setattr__(self, "results", _objects(self.results, f"{w}: results"))

    @property
    def signer(self) -> str:
        return self.sender

    def _fields(self) -> dict[str, JsonValue]:
        return {
            "sender": self.sender,
            "receiver": self.receiver,
            "sent_at": self.sent_at,
            "in_reply_to": self.in_reply_to,
            "results": list(self.results),
        }

    @classmethod
    def _from_fields(cls, f: Fields) -> BatchReplyStatement:
        return cls(
            sender=f.text("sender"),
            receiver=f.text("receiver"),
            sent_at=f.text("sent_at"),
            in_reply_to=f.text("in_reply_to"),
            results=_objects(f.value("results"), f"{f.where}: results"),
        )
