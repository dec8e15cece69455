"""The signed statements nodes exchange, as canonical JSON.

Each statement is a frozen value with an explicit ``type`` and ``version``
and one DSSE payload type. Its bytes are canonical JSON: sorted keys, compact
separators, UTF-8, only strings, safe integers, booleans, lists and objects;
optional fields are left out, never ``null``; sets (topics, REL TO, consent)
are sorted without repeats. Constructors check every field and raise
``InvalidInput``; ``from_bytes`` also refuses unknown or missing fields, wrong
types, and bytes that are not the canonical text of what they parse to.

Who signs what (``signer``): the originator signs items and consents, the hub
signs relay statements. A receiver's receipt is no statement: it is the C2SP
tlog-proof of its ``received`` log entry (``tisa.ledger.receipt_proofs``), whose
checkpoint the receiver signs with its log key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from tisa.crypto._encoding import JsonValue
from tisa.crypto._statement_base import (
    Fields,
    Statement,
    check_agreement_id,
    check_code,
    check_day,
    check_hex,
    check_stix_id,
    check_text,
    check_timestamp,
    fail,
    sha256_hex,
)
from tisa.crypto.items import ItemStatement

__all__ = [
    "ConsentStatement",
    "ItemStatement",
    "RelayStatement",
    "Statement",
    "sha256_hex",
]

Decision = Literal["approve", "deny"]


@dataclass(frozen=True, kw_only=True)
class ConsentStatement(Statement):
    """The originator's signed answer: may ``holder`` release the item (this
    exact envelope) to ``recipient``? Prior written consent, per item."""

    TYPE: ClassVar[str] = "tisa.consent"
    PAYLOAD_TYPE: ClassVar[str] = "application/vnd.tisa.consent+json"
    _REQUIRED: ClassVar[frozenset[str]] = frozenset(
        [
            "request_id",
            "originator",
            "holder",
            "recipient",
            "item_id",
            "item_version",
            "envelope_sha256",
            "decision",
            "decided_at",
        ]
    )
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"reason"})

    request_id: str
    originator: str
    holder: str
    recipient: str
    item_id: str
    item_version: str
    envelope_sha256: str
    decision: Decision
    decided_at: str
    reason: str = ""

    def __post_init__(self) -> None:
        w = self.TYPE
        check_text(self.request_id, f"{w}: request_id")
        for name in ("originator", "holder", "recipient"):
            check_code(getattr(self, name), f"{w}: {name}")
        if len({self.originator, self.holder, self.recipient}) != 3:
            raise fail(w, "originator, holder and recipient must be three different parties")
        check_stix_id(self.item_id, f"{w}: item_id")
        check_text(self.item_version, f"{w}: item_version")
        check_hex(self.envelope_sha256, f"{w}: envelope_sha256", 64)
        if self.decision not in ("approve", "deny"):
            raise fail(w, f"decision {self.decision!r} must be 'approve' or 'deny'")
        check_timestamp(self.decided_at, f"{w}: decided_at")
        check_text(self.reason, f"{w}: reason", empty=True)

    @property
    def signer(self) -> str:
        return self.originator

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    def _fields(self) -> dict[str, JsonValue]:
        fields: dict[str, JsonValue] = {
            name: getattr(self, name) for name in sorted(self._REQUIRED)
        }
        if self.reason:
            fields["reason"] = self.reason
        return fields

    @classmethod
    def _from_fields(cls, f: Fields) -> ConsentStatement:
        decision = f.text("decision")
        if decision not in ("approve", "deny"):
            raise fail(f.where, f"decision {decision!r} must be 'approve' or 'deny'")
        return cls(
            request_id=f.text("request_id"),
            originator=f.text("originator"),
            holder=f.text("holder"),
            recipient=f.text("recipient"),
            item_id=f.text("item_id"),
            item_version=f.text("item_version"),
            envelope_sha256=f.text("envelope_sha256"),
            decision="approve" if decision == "approve" else "deny",
            decided_at=f.text("decided_at"),
            reason=f.optional_text("reason") or "",
        )


@dataclass(frozen=True, kw_only=True)
class RelayStatement(Statement):
    """The hub's signed word: on ``relayed_on`` it relays the item envelope
    ``envelope_sha256`` from the originator to the recipient under an agreement,
    on the consent in ``consent_sha256`` (left out: the item's own consent_to)."""

    TYPE: ClassVar[str] = "tisa.relay"
    PAYLOAD_TYPE: ClassVar[str] = "application/vnd.tisa.relay+json"
    _REQUIRED: ClassVar[frozenset[str]] = frozenset(
        [
            "hub",
            "originator",
            "recipient",
            "envelope_sha256",
            "item_id",
            "item_version",
            "agreement_id",
            "relayed_on",
        ]
    )
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"consent_sha256"})

    hub: str
    originator: str
    recipient: str
    envelope_sha256: str
    item_id: str
    item_version: str
    agreement_id: str
    relayed_on: str
    consent_sha256: str | None = None

    def __post_init__(self) -> None:
        w = self.TYPE
        for name in ("hub", "originator", "recipient"):
            check_code(getattr(self, name), f"{w}: {name}")
        if len({self.hub, self.originator, self.recipient}) != 3:
            raise fail(w, "hub, originator and recipient must be three different parties")
        check_hex(self.envelope_sha256, f"{w}: envelope_sha256", 64)
        check_stix_id(self.item_id, f"{w}: item_id")
        check_text(self.item_version, f"{w}: item_version")
        check_agreement_id(self.agreement_id, f"{w}: agreement_id")
        check_day(self.relayed_on, f"{w}: relayed_on")
        if self.consent_sha256 is not None:
            check_hex(self.consent_sha256, f"{w}: consent_sha256", 64)

    @property
    def signer(self) -> str:
        return self.hub

    def _fields(self) -> dict[str, JsonValue]:
        fields: dict[str, JsonValue] = {
            name: getattr(self, name) for name in sorted(self._REQUIRED)
        }
        if self.consent_sha256 is not None:
            fields["consent_sha256"] = self.consent_sha256
        return fields

    @classmethod
    def _from_fields(cls, f: Fields) -> RelayStatement:
        return cls(
            hub=f.text("hub"),
            originator=f.text("originator"),
            recipient=f.text("recipient"),
            envelope_sha256=f.text("envelope_sha256"),
            item_id=f.text("item_id"),
            item_version=f.text("item_version"),
            agreement_id=f.text("agreement_id"),
            relayed_on=f.text("relayed_on"),
            consent_sha256=f.optional_text("consent_sha256"),
        )
