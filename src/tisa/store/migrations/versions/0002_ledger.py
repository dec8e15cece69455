"""Transparency log: entries, tree nodes, checkpoints, witness state and peers' checkpoints.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the ledger work; an empty step keeps the revision chain fixed.
    pass


def downgrade() -> None:
    pass
