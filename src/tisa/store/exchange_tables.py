"""The exchange layer's SQL schema (migrations 0003 and 0004), described for queries.

``ref`` names a row of ``exchange_sent`` or ``exchange_held`` (and the peer messages
about it): the envelope digest for what a node signed or holds as a hub, and
``<digest>:<outbox id>`` for an onward share of a received item (one envelope, several
recipients, each its own share). A ``receipt`` is the receiver's C2SP tlog-proof text
(migration 0005 turned the signed receipts stored before into the proofs they carried)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tisa.store.tables import BigId

metadata = MetaData()

exchange_sent = Table(
    "exchange_sent",
    metadata,
    Column("outbox_id", BigInteger, nullable=False),
    Column("envelope_sha256", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("next_hop", String(64), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("receipt", Text, nullable=True),
    Column("ref", String(300), nullable=False),
    PrimaryKeyConstraint("outbox_id", name="pk_exchange_sent"),
    UniqueConstraint("ref", name="uq_exchange_sent_ref"),
    Index("ix_exchange_sent_envelope", "envelope_sha256"),
)

exchange_messages = Table(
    "exchange_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("peer", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("ref", String(300), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("last_error", Text, nullable=False),
)

exchange_received = Table(
    "exchange_received",
    metadata,
    Column("envelope_sha256", String(64), primary_key=True),
    Column("envelope", Text, nullable=False),
    Column("relay", Text, nullable=True),
    Column("consent", Text, nullable=True),
    Column("sender", String(64), nullable=False),
    Column("originator", String(64), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("receipt", Text, nullable=False),
    Column("received_us", BigInteger, nullable=False),
)

exchange_held = Table(
    "exchange_held",
    metadata,
    Column("ref", String(300), nullable=False),
    Column("envelope_sha256", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("originator", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("item_version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("consent", Text, nullable=True),
    Column("expires_us", BigInteger, nullable=False),
    Column("held_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("ref", name="pk_exchange_held"),
    Index("ix_exchange_held_state", "state", "expires_us"),
    Index("ix_exchange_held_envelope", "envelope_sha256"),
)

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("item_id", String(300), nullable=False),
    Column("item_version", String(64), nullable=False),
    Column("envelope_sha256", String(64), nullable=False),
    Column("originator", String(64), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("requested_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
)

exchange_seen = Table(
    "exchange_seen",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("seen_us", BigInteger, nullable=False),
)
