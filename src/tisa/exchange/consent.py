"""The originator's consent desk: the requests hubs sent, and the analysts' answers.

Approving signs a ``ConsentStatement`` (this exact envelope, this holder, this recipient)
and queues it for the hub; denying signs the refusal too, queues it, and ends the share
as a failure with the reason. Used by ``tisa consent`` and the node's HTTP API alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tisa.crypto.signed import sign_statement
from tisa.crypto.statements import ConsentStatement
from tisa.errors import Conflict, NotFound
from tisa.exchange.context import now_text
from tisa.exchange.messages import check_reason
from tisa.exchange.protocol import CONSENT
from tisa.store.exchange_sql import ExchangeStore
from tisa.store.sql import now_us


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True)
class ConsentDesk:
    party: str
    store: ExchangeStore
    signing_key: Ed25519PrivateKey

    def open_requests(self) -> list[dict[str, Any]]:
        """Open, unexpired requests: id, item, originator, holder, recipient, times."""
        now = now_us()
        return [
            {"id": r["id"], "item": r["item_id"], "originator": r["originator"],
             "holder": r["holder"], "recipient": r["recipient"],
             "requested_at": _iso(r["requested_us"]), "expires_at": _iso(r["expires_us"])}
            for r in self.store.consent_requests() if r["expires_us"] > now
        ]

    def approve(self, request_id: str) -> None:
        self._answer(request_id, "approve", "")

    def deny(self, request_id: str, reason: str = "") -> None:
        self._answer(request_id, "deny", check_reason(reason))

    def _answer(self, request_id: str, decision: str, reason: str) -> None:
        request = self.store.consent_request(request_id)
        if request is None:
            raise NotFound(f"no consent request {request_id}")
        if request["state"] != "open":
            raise Conflict(f"consent request {request_id} is already {request['state']}")
        if request["expires_us"] <= now_us():
            raise Conflict(f"consent request {request_id} expired at "
                           f"{_iso(request['expires_us'])}")
        statement = ConsentStatement(
            request_id=request_id, originator=self.party, holder=request["holder"],
            recipient=request["recipient"], item_id=request["item_id"],
            item_version=request["item_version"],
            envelope_sha256=request["envelope_sha256"],
            decision="approve" if decision == "approve" else "deny",
            decided_at=now_text(), reason=reason,
        )
        envelope = sign_statement(statement, self.signing_key).to_json().decode("utf-8")
        body = json.dumps({"kind": CONSENT, "consent": envelope})
        state = "approved" if decision == "approve" else "denied"
        if not self.store.answer_consent(request_id, state=state, reason=reason,
                                         message=(request["holder"], CONSENT, body,
                                                  request_id)):
            raise Conflict(f"consent request {request_id} was answered meanwhile")
        digest = request["envelope_sha256"]
        if decision == "approve":
            self.store.finish_share(digest, state="pending", message=(
                f"{self.party} approved consent {request_id}; {request['holder']} relays it "
                f"to {request['recipient']}"))
        else:
            self.store.finish_share(digest, state="failure", message=(
                f"{self.party} denied consent for {request['holder']} to relay it to "
                f"{request['recipient']}" + (f": {reason}" if reason else "")))
