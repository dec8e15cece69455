"""Node-to-node exchange: deliveries, held relays, consent requests, receipts, replay guard.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # What this node signed and sent first-hand, one row per TAXII outbox row.
    op.create_table(
        "exchange_sent",
        sa.Column("outbox_id", sa.BigInteger, primary_key=True),
        sa.Column("envelope_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("next_hop", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("receipt", sa.Text, nullable=True),
    )
    # Finishing a share settles the marking-definitions of the same status request.
    op.create_index("ix_outbox_status", "outbox", ["status_id", "state"])
    # Peer messages waiting to go out (a second outbox, for what is not a TAXII share).
    op.create_table(
        "exchange_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("ref", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_exchange_messages_due", "exchange_messages",
                    ["state", "next_attempt_us", "id"])
    # Items this node received as final recipient: the evidence and the receipt given.
    op.create_table(
        "exchange_received",
        sa.Column("envelope_sha256", sa.String(64), primary_key=True),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("relay", sa.Text, nullable=True),
        sa.Column("consent", sa.Text, nullable=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("originator", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_exchange_received_item", "exchange_received",
                    ["item_id", "version_us"])
    # Items a hub holds for relay: awaiting consent, to forward, forwarded, dropped.
    op.create_table(
        "exchange_held",
        sa.Column("envelope_sha256", sa.String(64), primary_key=True),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("originator", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("item_version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("consent", sa.Text, nullable=True),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("held_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_exchange_held_state", "exchange_held", ["state", "expires_us"])
    # Consent requests an originator's analysts answer.
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("item_version", sa.String(64), nullable=False),
        sa.Column("envelope_sha256", sa.String(64), nullable=False),
        sa.Column("originator", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("requested_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    # Replay guard: digests of peer request envelopes seen inside the freshness window.
    op.create_table(
        "exchange_seen",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("seen_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("exchange_seen", "consent_requests", "exchange_held", "exchange_received",
                  "exchange_messages", "exchange_sent"):
        op.drop_table(table)
    op.drop_index("ix_outbox_status", "outbox")
