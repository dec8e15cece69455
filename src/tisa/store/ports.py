"""What the services need from storage: Protocols and the values that cross them.

Times are integers: microseconds since the Unix epoch (UTC). ``version_us == 0`` marks an
object with neither ``modified`` nor ``created`` (its version is then its date added).

The one SQL implementation (``tisa.store.sql.SqlStore``) serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

EntryState = Literal["success", "failure", "pending"]

#: The topic stored for an object whose item marking names no topics (ISA ACS) or cannot
#: be read: no reader's topics include it, so only readers of all topics see the object.
#: (Rank alone never grants access.)
UNSCOPED: Final = "*"


@dataclass(frozen=True, kw_only=True)
class CollectionRecord:
    id: str
    title: str


@dataclass(frozen=True, kw_only=True)
class Viewer:
    """Whose eyes a read is for: objects above the clearance rank or outside the topics
    (``None``: all topics) are invisible. ``Viewer.system()`` sees everything."""

    clearance_rank: int
    topics: frozenset[str] | None = None

    @staticmethod
    def system() -> Viewer:
        return Viewer(clearance_rank=32767, topics=None)


@dataclass(frozen=True, kw_only=True)
class OutboxDraft:
    """A request to deliver the object to ``recipient`` (issue 4 drains the outbox)."""

    recipient: str
    route: str  # the route decision as JSON text


@dataclass(frozen=True, kw_only=True)
class NewObject:
    object_id: str
    type: str
    spec_version: str
    version: str  # as given (modified, else created, else "")
    version_us: int
    level_rank: int
    topics: frozenset[str]
    body: str  # canonical JSON text
    digest: str  # SHA-256 of ``body``; identical re-posts are recognised by it
    outbox: OutboxDraft | None = None
    pending_message: str = ""
    #: (id, version_us) of parts of the same request this one travels with (a
    #: marking-definition with the items it marks): stored only if one of them is.
    travels_with: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """An envelope part the service refused before storage; recorded as a failure."""

    object_id: str
    version: str
    message: str


Part = NewObject | Rejected


@dataclass(frozen=True, kw_only=True)
class StatusEntry:
    object_id: str
    version: str
    state: EntryState
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class StatusRecord:
    id: str
    collection_id: str
    owner: str
    request_timestamp_us: int
    entries: tuple[StatusEntry, ...]

    def count(self, state: EntryState) -> int:
        return sum(1 for e in self.entries if e.state == state)


@dataclass(frozen=True, kw_only=True)
class Cursor:
    date_added_us: int
    seq: int


@dataclass(frozen=True, kw_only=True)
class VersionFilter:
    """``match[version]``: any of first, last, all, or exact versions (µs)."""

    first: bool = False
    last: bool = True
    all: bool = False
    exact: frozenset[int] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ObjectQuery:
    collection_id: str
    viewer: Viewer
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    spec_versions: frozenset[str] = frozenset()
    versions: VersionFilter = field(default_factory=VersionFilter)
    added_after_us: int | None = None
    after: Cursor | None = None
    limit: int = 100


@dataclass(frozen=True, kw_only=True)
class StoredObject:
    object_id: str
    type: str
    spec_version: str
    version: str
    version_us: int
    date_added_us: int
    seq: int
    body: str


@dataclass(frozen=True, kw_only=True)
class Page:
    objects: tuple[StoredObject, ...]
    more: bool

    @property
    def last_cursor(self) -> Cursor | None:
        if not self.objects:
            return None
        last = self.objects[-1]
        return Cursor(date_added_us=last.date_added_us, seq=last.seq)


@dataclass(frozen=True, kw_only=True)
class UserRecord:
    name: str
    password_hash: str
    clearance_rank: int
    topics: frozenset[str] | None  # None: all topics
    admin: bool


@dataclass(frozen=True, kw_only=True)
class OutboxEntry:
    id: int
    status_id: str
    collection_id: str
    recipient: str
    object_id: str
    version_us: int
    route: str
    state: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class ReceivedCopy:
    """An object version this node received from another party (its evidence is in
    ``exchange_received``): whose item it is, who delivered it, and whether this node is
    the item's first recipient (from the originator directly or through its hub) rather
    than a third party a holder passed it on to."""

    originator: str
    version_us: int
    sender: str
    first_hand: bool


class ObjectStore(Protocol):
    def ensure_collections(self, collections: Sequence[CollectionRecord]) -> None: ...

    def ingest(
        self,
        *,
        collection_id: str,
        owner: str,
        parts: Sequence[Part],
        status_id: str,
        viewer: Viewer,
    ) -> StatusRecord:
        """Store the new objects, the outbox rows and the status in one transaction.

        An identical re-post (same id, version and digest) is a success (or pending, if it
        has an outbox draft and is still awaiting delivery) and stores nothing new; a
        different object under an existing id and version is a failure. ``viewer`` is the
        poster's: an id and version stored where the viewer cannot see it is one opaque
        failure whatever the content, so a post reveals nothing of hidden objects."""
        ...

    def page(self, query: ObjectQuery) -> Page: ...

    def object_exists(self, collection_id: str, object_id: str, viewer: Viewer) -> bool: ...

    def delete_object(
        self,
        *,
        collection_id: str,
        object_id: str,
        viewer: Viewer,
        versions: VersionFilter,
        spec_versions: frozenset[str],
    ) -> int: ...

    def marking_definitions(self, ids: Sequence[str]) -> dict[str, str]:
        """Stored marking-definition bodies (JSON text) by id, from any collection.

        Marking-definitions are immutable node-wide: ``ingest`` refuses one whose id is
        stored anywhere with different content, so each id has one body."""
        ...


class StatusStore(Protocol):
    def status(self, status_id: str) -> StatusRecord | None: ...

    def visible_versions(
        self, collection_id: str, entries: Sequence[StatusEntry], viewer: Viewer
    ) -> set[tuple[str, str]]:
        """Which entries' objects are stored in the collection where ``viewer`` sees them."""
        ...


class OutboxStore(Protocol):
    def claim_outbox(self, *, limit: int, recipient: str | None = None) -> list[OutboxEntry]:
        """Pending rows, oldest first, locked for this transaction's owner (SKIP LOCKED on
        PostgreSQL) and marked ``sending``; rows left ``sending`` by a crash can be reset
        with ``release_outbox``."""
        ...

    def finish_outbox(self, outbox_id: int, *, state: EntryState, message: str) -> None:
        """Record delivery (``success``), refusal (``failure``) or a new wait (``pending``,
        e.g. awaiting consent) in the outbox row and its status entry together."""
        ...

    def release_outbox(self, outbox_ids: Sequence[int]) -> None: ...


class UserStore(Protocol):
    def add_user(self, user: UserRecord) -> None: ...

    def user(self, name: str) -> UserRecord | None: ...
