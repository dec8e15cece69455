"""Each share its own row: ``exchange_sent`` and ``exchange_held`` keyed by a ``ref``.

A holder may share one received item onward to several third parties (each with its own
consent from the originator), and all of them reuse the originator's envelope, so the
envelope digest no longer names one row. Rows get a ``ref`` — the digest for what a
node signed itself and for what a hub holds (one recipient per envelope), and
``<digest>:<outbox id>`` for an onward share — and peer messages name their row by it.
Existing rows keep ``ref = envelope_sha256``, which is what their queued messages name.

The tables are rebuilt (create, copy, drop, rename) the same way on SQLite and
PostgreSQL, so no dialect-specific constraint name is needed.

Downgrade keeps one row per envelope digest (the lowest ref): onward shares of one item
to several recipients cannot all be kept under the 0003 keys.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SENT = ("outbox_id", "envelope_sha256", "envelope", "recipient", "next_hop", "item_id",
         "version_us", "receipt")
_HELD = ("envelope_sha256", "envelope", "originator", "recipient", "item_id", "item_version",
         "state", "request_id", "consent", "expires_us", "held_us")


def _sent_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
        sa.Column("envelope_sha256", sa.String(64), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("next_hop", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("receipt", sa.Text, nullable=True),
    ]


def _held_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("envelope_sha256", sa.String(64), nullable=False),
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
    ]


def _copy(source: str, target: str, columns: Sequence[str], *, ref: bool,
          where: str = "") -> None:
    names = ", ".join(columns)
    if ref:  # existing rows: the ref is the digest their queued messages already name
        op.execute(f"INSERT INTO {target} (ref, {names}) "  # noqa: S608 (fixed names)
                   f"SELECT envelope_sha256, {names} FROM {source}")
    else:
        op.execute(f"INSERT INTO {target} ({names}) "  # noqa: S608 (fixed names)
                   f"SELECT {names} FROM {source} {where}")


def _one_per_digest(table: str) -> str:
    return (f"WHERE ref IN (SELECT MIN(ref) FROM {table} "  # noqa: S608 (fixed names)
            "GROUP BY envelope_sha256)")


def upgrade() -> None:
    # What this node signed and sent, or passes on: one row per TAXII outbox row.
    op.create_table(
        "exchange_sent_0004",
        *_sent_columns(),
        sa.Column("ref", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id", name="pk_exchange_sent"),
        sa.UniqueConstraint("ref", name="uq_exchange_sent_ref"),
    )
    _copy("exchange_sent", "exchange_sent_0004", _SENT, ref=True)
    op.drop_table("exchange_sent")
    op.rename_table("exchange_sent_0004", "exchange_sent")
    op.create_index("ix_exchange_sent_envelope", "exchange_sent", ["envelope_sha256"])
    # What a hub holds for relay, or a holder for an onward share awaiting consent.
    op.create_table(
        "exchange_held_0004",
        sa.Column("ref", sa.String(300), nullable=False),
        *_held_columns(),
        sa.PrimaryKeyConstraint("ref", name="pk_exchange_held"),
    )
    _copy("exchange_held", "exchange_held_0004", _HELD, ref=True)
    op.drop_index("ix_exchange_held_state", "exchange_held")
    op.drop_table("exchange_held")
    op.rename_table("exchange_held_0004", "exchange_held")
    op.create_index("ix_exchange_held_state", "exchange_held", ["state", "expires_us"])
    op.create_index("ix_exchange_held_envelope", "exchange_held", ["envelope_sha256"])


def downgrade() -> None:
    op.create_table(
        "exchange_sent_0003",
        *_sent_columns(),
        sa.PrimaryKeyConstraint("outbox_id"),
        sa.UniqueConstraint("envelope_sha256"),
    )
    _copy("exchange_sent", "exchange_sent_0003", _SENT, ref=False,
          where=_one_per_digest("exchange_sent"))
    op.drop_index("ix_exchange_sent_envelope", "exchange_sent")
    op.drop_table("exchange_sent")
    op.rename_table("exchange_sent_0003", "exchange_sent")
    op.create_table(
        "exchange_held_0003",
        *_held_columns(),
        sa.PrimaryKeyConstraint("envelope_sha256"),
    )
    _copy("exchange_held", "exchange_held_0003", _HELD, ref=False,
          where=_one_per_digest("exchange_held"))
    op.drop_index("ix_exchange_held_state", "exchange_held")
    op.drop_index("ix_exchange_held_envelope", "exchange_held")
    op.drop_table("exchange_held")
    op.rename_table("exchange_held_0003", "exchange_held")
    op.create_index("ix_exchange_held_state", "exchange_held", ["state", "expires_us"])
