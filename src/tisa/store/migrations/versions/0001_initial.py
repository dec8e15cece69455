"""Initial schema: collections, objects (+topics), users, statuses, outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False, unique=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_added_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "objects",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(36), sa.ForeignKey("collections.id"),
                  nullable=False),
        sa.Column("object_id", sa.String(300), nullable=False),
        sa.Column("type", sa.String(250), nullable=False),
        sa.Column("spec_version", sa.String(16), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("is_first", sa.Boolean, nullable=False),
        sa.Column("is_last", sa.Boolean, nullable=False),
        sa.Column("date_added_us", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("level_rank", sa.SmallInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("object_id", "collection_id", "version_us",
                            name="uq_objects_version"),
    )
    op.create_index("ix_objects_page", "objects", ["collection_id", "date_added_us", "seq"])
    op.create_table(
        "object_topics",
        sa.Column("object_pk", sa.BigInteger, sa.ForeignKey("objects.pk", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("clearance_rank", sa.SmallInteger, nullable=False),
        sa.Column("topics", sa.Text, nullable=True),
        sa.Column("admin", sa.Boolean, nullable=False),
    )
    op.create_table(
        "statuses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("collection_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("request_timestamp_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "status_entries",
        sa.Column("status_id", sa.String(36), sa.ForeignKey("statuses.id"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("object_id", sa.String(300), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("status_id", sa.String(36), nullable=False),
        sa.Column("entry_idx", sa.Integer, nullable=False),
        sa.Column("collection_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(300), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_outbox_state", "outbox", ["state", "id"])


def downgrade() -> None:
    for name in ("outbox", "status_entries", "statuses", "users", "object_topics", "objects",
                 "collections"):
        op.drop_table(name)
