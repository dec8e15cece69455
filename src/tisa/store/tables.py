"""The SQL schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it;
this module only describes it for queries. Keep the two in step."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

collections = Table(
    "collections",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("title", String(200), nullable=False, unique=True),
    # The per-collection counter row doubles as the writers' lock: a writer takes it
    # first and holds it to commit, so date_added/seq follow commit order.
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("last_added_us", BigInteger, nullable=False, default=0),
)

objects = Table(
    "objects",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("collection_id", String(36), ForeignKey("collections.id"), nullable=False),
    Column("object_id", String(300), nullable=False),
    Column("type", String(250), nullable=False),
    Column("spec_version", String(16), nullable=False),
    Column("version", String(40), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("is_first", Boolean, nullable=False),
    Column("is_last", Boolean, nullable=False),
    Column("date_added_us", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("level_rank", SmallInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("body", Text, nullable=False),
    # Leads with object_id: lookups by id (re-posts, versions, markings) are selective
    # whatever the planner's statistics say about collection_id.
    UniqueConstraint("object_id", "collection_id", "version_us", name="uq_objects_version"),
    Index("ix_objects_page", "collection_id", "date_added_us", "seq"),
)

object_topics = Table(
    "object_topics",
    metadata,
    Column("object_pk", BigInteger, ForeignKey("objects.pk", ondelete="CASCADE"),
           primary_key=True),
    Column("topic", String(200), primary_key=True),
)

users = Table(
    "users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("clearance_rank", SmallInteger, nullable=False),
    Column("topics", Text, nullable=True),  # JSON list; NULL: all topics
    Column("admin", Boolean, nullable=False),
)

statuses = Table(
    "statuses",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("collection_id", String(36), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("request_timestamp_us", BigInteger, nullable=False),
)

status_entries = Table(
    "status_entries",
    metadata,
    Column("status_id", String(36), ForeignKey("statuses.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("object_id", String(300), nullable=False),
    Column("version", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("message", Text, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("status_id", String(36), nullable=False),
    Column("entry_idx", Integer, nullable=False),
    Column("collection_id", String(36), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("object_id", String(300), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("route", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_outbox_state", "state", "id"),
)
