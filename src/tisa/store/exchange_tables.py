"""The exchange layer's SQL schema (migration 0003), described for queries."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

from tisa.store.tables import BigId

metadata = MetaData()

exchange_sent = Table(
    "exchange_sent",
    metadata,
    Column("outbox_id", BigInteger, primary_key=True),
    Column("envelope_sha256", String(64), nullable=False, unique=True),
    Column("envelope", Text, nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("next_hop", String(64), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("receipt", Text, nullable=True),
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
    Column("envelope_sha256", String(64), primary_key=True),
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
