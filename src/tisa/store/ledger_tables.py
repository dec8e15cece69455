"""The transparency log's tables (SQLAlchemy Core), on the shared ``tables.metadata``.

Migration ``0002_ledger`` creates them; keep the two in step.

* ``log_state``        one row: the committed tree size; the writers' lock (row lock on
                       PostgreSQL, the database write lock on SQLite)
* ``log_entries``      index -> canonical entry bytes
* ``log_tiles``        C2SP tlog-tiles hash tiles as stored blobs, (level, index) -> the
                       hashes so far (a partial tile grows in place until it is full)
* ``log_checkpoints``  every checkpoint the node signed: size, root, the signed note
* ``log_cosignatures`` witness cosignature lines, per checkpoint size and witness
* ``witness_state``    the latest checkpoint this node cosigned, per origin (witness role)
* ``peer_checkpoints`` the latest checkpoint of each peer that ``tisa audit`` accepted
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from tisa.store.tables import metadata

log_state = Table(
    "log_state",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

log_tiles = Table(
    "log_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("inner", LargeBinary, nullable=True),  # full tiles: levels 1..7 above the hashes
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("signed_us", BigInteger, nullable=False),
)

log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),
    Column("line", Text, nullable=False),
    Column("received_us", BigInteger, nullable=False),
)

witness_state = Table(
    "witness_state",
    metadata,
    Column("origin", String(300), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

peer_checkpoints = Table(
    "peer_checkpoints",
    metadata,
    Column("party", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("seen_us", BigInteger, nullable=False),
)
