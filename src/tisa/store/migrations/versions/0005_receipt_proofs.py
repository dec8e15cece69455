"""Receipts are the receiver's tlog-proof text: no signed ``tisa.receipt`` statement around it.

Receipts stored before were DSSE envelopes of a ``tisa.receipt`` statement whose
``log_proof`` field held the C2SP tlog-proof; each becomes that proof text:

* ``exchange_received.receipt``: what a receiver answers again when the same envelope
  is delivered again (so a redelivery across the upgrade still proves the delivery);
* ``exchange_sent.receipt``: the originator's evidence (the proof is what it verified);
* the ``receipt`` messages a hub has queued for the originator (``exchange_messages``).

A stored receipt that is not such an envelope, or carries no ``log_proof``, is left as
it was (a new node does not accept it: that share cannot be proven, as before).

Downgrade changes nothing back: the per-item signatures cannot be made again, and a
downgraded node would answer a redelivery with proof text its peers refuse.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_RECEIPT_TYPE = "application/vnd.tisa.receipt+json"
_BATCH = 500


def log_proof(receipt: str) -> str | None:
    """The tlog-proof inside a receipt stored as a DSSE envelope; None for anything else."""
    try:
        envelope = json.loads(receipt)
        if not isinstance(envelope, dict) or envelope.get("payloadType") != _RECEIPT_TYPE:
            return None
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    proof = statement.get("log_proof") if isinstance(statement, dict) else None
    return proof if isinstance(proof, str) and proof else None


def _receipt_message(body: str) -> str | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("receipt"), str):
        return None
    proof = log_proof(message["receipt"])
    return None if proof is None else json.dumps({**message, "receipt": proof})


def _rewrite(table: str, key: str, column: str, convert: Callable[[str], str | None],
             where: str = "") -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT {key}, {column} FROM {table} "  # noqa: S608 (fixed names)
        f"WHERE {column} LIKE '{{%' {where}")).all()
    update = sa.text(f"UPDATE {table} SET {column} = :value "  # noqa: S608 (fixed names)
                     f"WHERE {key} = :key")
    changes = [{"key": k, "value": new} for k, old in rows
               if (new := convert(str(old))) is not None]
    for start in range(0, len(changes), _BATCH):
        conn.execute(update, changes[start:start + _BATCH])


def upgrade() -> None:
    _rewrite("exchange_received", "envelope_sha256", "receipt", log_proof)
    _rewrite("exchange_sent", "outbox_id", "receipt", log_proof)
    _rewrite("exchange_messages", "id", "body", _receipt_message, where="AND kind = 'receipt'")


def downgrade() -> None:
    """Nothing to undo that can be undone (see the module's docstring)."""
