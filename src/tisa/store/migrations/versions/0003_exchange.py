"""Node-to-node exchange: deliveries, held relays, consent requests, receipts, replay guard.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the exchange work; an empty step keeps the revision chain fixed.
    pass


def downgrade() -> None:
    pass
