"""The TAXII node's rules, without HTTP: collections, who may read and write them, what
each reader may see, and what posting to ``to-<PARTY>`` means.

Collections (ids are stable UUIDv5s of the party and the title):

* ``local``: the party's own workspace; every user reads and writes.
* ``inbox``: items received from other parties; read-only.
* ``to-<PARTY>``: posting asks the node to share with that party; every user may ask
  (can_write), only admins (release officers) may read what was shared (can_read).

Every read is filtered in SQL by the reader's clearance and topics (need to know):
objects above the clearance or outside the topics are absent from lists and 404 by id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Final, Literal

from tisa.api.paging import PageTokens, query_digest
from tisa.api.sharing import NodeNetwork, decide_share
from tisa.api.stix_input import PostedObject, read_envelope, read_object
from tisa.api.timestamps import parse_timestamp
from tisa.errors import Denied, InvalidInput, NotFound
from tisa.model.item_marking import (
    ACS_MARKING_EXTENSION,
    TISA_EXTENSION_DEFINITION,
    TISA_MARKING_EXTENSION,
    ItemMarking,
    MarkingError,
    combined_marking,
    item_marking,
    marking_from_definition,
    marking_refs,
    require_originator,
)
from tisa.model.levels import REFERENCE_LEVELS
from tisa.model.route import RouteDecision
from tisa.store.ports import (
    UNSCOPED,
    CollectionRecord,
    NewObject,
    ObjectQuery,
    OutboxDraft,
    Page,
    Part,
    ReceivedCopy,
    Rejected,
    StatusRecord,
    UserRecord,
    VersionFilter,
    Viewer,
)
from tisa.store.sql import DEFINITION_CHANGED, SqlStore

_NAMESPACE: Final = uuid.UUID("8f1d2c4e-5b6a-4c3d-9e8f-7a6b5c4d3e2f")
TOP_RANK: Final = len(REFERENCE_LEVELS) - 1
SYSTEM_OWNER: Final = "tisa"

Kind = Literal["local", "inbox", "share"]
Mode = Literal["objects", "manifest", "object", "versions"]

_FILTERS: Final = frozenset(
    {"limit", "next", "added_after", "match[id]", "match[type]", "match[version]",
     "match[spec_version]"}
)


@dataclass(frozen=True, kw_only=True)
class CollectionInfo:
    id: str
    title: str
    description: str
    kind: Kind
    recipient: str | None = None


@dataclass(frozen=True, kw_only=True)
class Access:
    can_read: bool
    can_write: bool


@dataclass(frozen=True, kw_only=True)
class PageResult:
    page: Page
    next_token: str | None


def utc_today() -> date:
    return datetime.now(UTC).date()


class TaxiiNode:
    def __init__(
        self,
        *,
        party: str,
        network: NodeNetwork,
        store: SqlStore,
        secret: bytes,
        page_limit: int = 1000,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.party = party
        self.network = network
        self.store = store
        self.page_limit = page_limit
        self._tokens = PageTokens(secret)
        self._today = today
        infos = [
            CollectionInfo(
                id=self._collection_id("local"),
                title="local",
                description=f"{party}'s own workspace (read/write)",
                kind="local",
            ),
            CollectionInfo(
                id=self._collection_id("inbox"),
                title="inbox",
                description="items received from other parties (read-only; you see what "
                "your clearance and topics allow)",
                kind="inbox",
            ),
        ]
        infos.extend(
            CollectionInfo(
                id=self._collection_id(f"to-{peer}"),
                title=f"to-{peer}",
                description=f"post here to share with {peer}; the node decides the route "
                f"under the agreements in force today and reports it in the status",
                kind="share",
                recipient=peer,
            )
            for peer in network.peers
        )
        self.collections: tuple[CollectionInfo, ...] = tuple(infos)
        self._by_id = {c.id: c for c in infos}
        self._by_title = {c.title: c for c in infos}

    def start(self) -> None:
        """Make sure every collection exists and ``local`` serves the tisa extension."""
        self.store.ensure_collections(
            [CollectionRecord(id=c.id, title=c.title) for c in self.collections]
        )
        posted = read_object(0, dict(TISA_EXTENSION_DEFINITION))
        self.store.ingest(
            collection_id=self.by_title("local").id,
            owner=SYSTEM_OWNER,
            parts=[_new_object(posted, rank=0, topics=frozenset())],
            status_id=str(uuid.uuid4()),
            viewer=Viewer.system(),
        )

    def _collection_id(self, title: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.party}/{title}"))

    def by_title(self, title: str) -> CollectionInfo:
        return self._by_title[title]

    def collection(self, collection_id: str) -> CollectionInfo:
        info = self._by_id.get(collection_id)
        if info is None:
            raise NotFound(f"no collection {collection_id}")
        return info

    @staticmethod
    def access(user: UserRecord, info: CollectionInfo) -> Access:
        if info.kind == "local":
            return Access(can_read=True, can_write=True)
        if info.kind == "inbox":
            return Access(can_read=True, can_write=False)
        return Access(can_read=user.admin, can_write=True)

    @staticmethod
    def viewer(user: UserRecord) -> Viewer:
        return Viewer(clearance_rank=user.clearance_rank, topics=user.topics)

    # -- reads -------------------------------------------------------------------------

    def read_page(
        self,
        user: UserRecord,
        info: CollectionInfo,
        params: Sequence[tuple[str, str]],
        *,
        mode: Mode,
        object_id: str | None = None,
    ) -> PageResult:
        if not self.access(user, info).can_read:
            raise Denied(f"you may not read collection {info.title}")
        filters = _filters(params)
        viewer = self.viewer(user)
        if object_id is not None and not self.store.object_exists(info.id, object_id, viewer):
            raise NotFound(f"no object {object_id} in {info.title}")
        limit = _limit(filters.pop("limit", None), self.page_limit)
        token = filters.pop("next", None)
        digest = query_digest(info.id, user.name, mode, object_id, sorted(filters.items()))
        after = self._tokens.read(token, digest) if token is not None else None
        default_versions = "all" if mode == "versions" else "last"
        query = ObjectQuery(
            collection_id=info.id,
            viewer=viewer,
            ids=frozenset({object_id}) if object_id else _values(filters.get("match[id]")),
            types=_values(filters.get("match[type]")),
            spec_versions=_values(filters.get("match[spec_version]")),
            versions=_versions(filters.get("match[version]", default_versions)),
            added_after_us=None
            if "added_after" not in filters
            else parse_timestamp(filters["added_after"], what="added_after"),
            after=after,
            limit=limit,
        )
        page = self.store.page(query)
        next_token = None
        if page.more and page.last_cursor is not None:
            next_token = self._tokens.issue(page.last_cursor, digest)
        return PageResult(page=page, next_token=next_token)

    def delete_object(
        self,
        user: UserRecord,
        info: CollectionInfo,
        object_id: str,
        params: Sequence[tuple[str, str]],
    ) -> int:
        access = self.access(user, info)
        if not access.can_read and not access.can_write:
            raise NotFound(f"no collection {info.id}")
        if not (access.can_read and access.can_write):
            raise Denied(f"collection {info.title}: you may not remove objects")
        if info.kind == "share":
            raise Denied(
                f"{info.title} is the record of what was asked to be shared; "
                "it cannot be deleted"
            )
        filters = _filters(params)
        for name in ("limit", "next", "added_after", "match[id]", "match[type]"):
            if name in filters:
                raise InvalidInput(f"{name} is not a filter of Delete An Object")
        viewer = self.viewer(user)
        if not self.store.object_exists(info.id, object_id, viewer):
            raise NotFound(f"no object {object_id} in {info.title}")
        return self.store.delete_object(
            collection_id=info.id,
            object_id=object_id,
            viewer=viewer,
            versions=_versions(filters.get("match[version]", "all")),
            spec_versions=_values(filters.get("match[spec_version]")),
        )

    def status(self, user: UserRecord, status_id: str) -> StatusRecord:
        record = self.store.status(status_id)
        if record is None or (record.owner != user.name and not user.admin):
            raise NotFound(f"no status {status_id}")
        if record.owner == user.name:
            return record
        # Another's status: only the entries of objects this reader could read. A refused
        # object was never stored (a readable one may share its id and version), so its
        # entry and reason stay with its poster.
        visible = self.store.visible_versions(
            record.collection_id, record.entries, self.viewer(user)
        )
        return replace(
            record,
            entries=tuple(
                e
                for e in record.entries
                if e.state != "failure" and (e.object_id, e.version) in visible
            ),
        )

    # -- writes ------------------------------------------------------------------------

    def add_objects(self, user: UserRecord, info: CollectionInfo, raw: bytes) -> StatusRecord:
        if not self.access(user, info).can_write:
            raise Denied(f"you may not add objects to collection {info.title}")
        posted = read_envelope(raw)
        definitions = self._definitions(posted)
        if info.kind == "share":
            assert info.recipient is not None
            parts = self._share_parts(posted, definitions, info.recipient)
        else:
            parts = [self._local_part(p, definitions) for p in posted]
        return self.store.ingest(
            collection_id=info.id,
            owner=user.name,
            parts=parts,
            status_id=str(uuid.uuid4()),
            viewer=self.viewer(user),
        )

    def store_received(
        self, objects: Sequence[Mapping[str, Any]], marking: ItemMarking, *, sender: str
    ) -> StatusRecord:
        """Put objects delivered by another party into ``inbox`` under ``marking``
        (the item's marking as received). For the exchange layer."""
        posted = [read_object(i, dict(o)) for i, o in enumerate(objects)]
        return self.store.ingest(
            collection_id=self.by_title("inbox").id,
            owner=f"party:{sender}",
            parts=[
                _new_object(p, rank=marking.rank, topics=_scope(marking.topics)) for p in posted
            ],
            status_id=str(uuid.uuid4()),
            viewer=Viewer.system(),
        )

    def _received(self, object_id: str) -> bool:
        return self.store.object_exists(self.by_title("inbox").id, object_id, Viewer.system())

    def _definitions(self, posted: Sequence[PostedObject]) -> Definitions:
        """The marking-definitions the envelope's objects reference. A stored definition is
        authoritative (they are immutable); an envelope copy that differs from it is
        recorded in ``changed`` and the objects referencing it are refused."""
        in_envelope = {p.object_id: p for p in posted if p.type == "marking-definition"}
        wanted = {ref for p in posted for ref in _marking_refs(p.data)} | set(in_envelope)
        stored = self.store.marking_definitions(sorted(wanted))
        bodies: dict[str, set[str]] = {}
        for p in posted:
            if p.type == "marking-definition":
                bodies.setdefault(p.object_id, set()).add(p.body)
        # Changed: unlike the stored copy, or two different copies in one envelope.
        changed = frozenset(
            ref
            for ref, copies in bodies.items()
            if len(copies) > 1 or (ref in stored and copies != {stored[ref]})
        )
        found: dict[str, Mapping[str, Any]] = {
            ref: p.data for ref, p in in_envelope.items() if ref not in stored
        }
        found.update({ref: json.loads(body) for ref, body in stored.items()})
        return Definitions(found=found, changed=changed)

    def _local_part(self, posted: PostedObject, known: Definitions) -> Part:
        refused = known.refusal(posted)
        if refused is not None:
            return refused
        definitions = known.found
        if posted.type == "marking-definition":
            return self._definition_part(posted)
        if not marking_refs(posted.data):
            return _new_object(posted, rank=0, topics=frozenset())
        try:
            marking = combined_marking(posted.data, definitions, self.network.resolve_level)
        except MarkingError:
            if _claims_item_marking(posted.data, definitions):
                # An item marking we cannot read: hold it at the top, never below.
                return _new_object(posted, rank=TOP_RANK, topics=_scope(frozenset()))
            return _new_object(posted, rank=0, topics=frozenset())
        return _new_object(posted, rank=marking.rank, topics=_scope(marking.topics))

    def _definition_part(self, posted: PostedObject) -> NewObject:
        """A marking-definition is as classified as the item marking it carries: a TOP
        SECRET marking names TOP SECRET matters. Unreadable: held at the top."""
        try:
            marking = marking_from_definition(posted.data, self.network.resolve_level)
        except MarkingError:
            return _new_object(posted, rank=TOP_RANK, topics=_scope(frozenset()))
        if marking is None:  # TLP, statement: public
            return _new_object(posted, rank=0, topics=frozenset())
        return _new_object(posted, rank=marking.rank, topics=_scope(marking.topics))

    def _share_parts(
        self, posted: Sequence[PostedObject], known: Definitions, recipient: str
    ) -> list[Part]:
        today = self._today()
        definitions = known.found
        decisions: dict[ItemMarking, RouteDecision] = {}
        drafts: dict[ItemMarking, tuple[OutboxDraft, str]] = {}
        decided: dict[str, Part] = {}
        routes_by_definition: dict[str, OutboxDraft] = {}
        carriers: dict[str, set[tuple[str, int]]] = {}  # definition -> routed items
        received = self.store.received_copies(
            [p.object_id for p in posted if p.type != "marking-definition"])
        for p in posted:
            if p.type == "marking-definition":
                continue
            refused = known.refusal(p)
            if refused is not None:
                decided[p.object_id + "@" + p.version] = refused
                continue
            try:
                marking = item_marking(p.data, definitions, self.network.resolve_level)
                copies = received.get(p.object_id, [])
                if copies:  # another party's item: it goes on only as theirs (third party)
                    _require_onward(p, marking, self.party, copies)
                elif marking.originator != self.party and not self._received(p.object_id):
                    require_originator(marking, self.party, where=p.object_id)  # not onward
            except MarkingError as exc:
                decided[p.object_id + "@" + p.version] = Rejected(
                    object_id=p.object_id, version=p.version, message=f"not shared: {exc}"
                )
                continue
            # Objects of one envelope mostly share a marking: decide each marking once.
            decision = decisions.get(marking)
            if decision is None:
                decision = decisions[marking] = decide_share(
                    self.network, marking, recipient, today)
            if decision.decision == "deny":
                decided[p.object_id + "@" + p.version] = Rejected(
                    object_id=p.object_id,
                    version=p.version,
                    message="not shared: " + "; ".join(decision.reasons),
                )
                continue
            queued = drafts.get(marking)  # one route text and status message per decision
            if queued is None:
                queued = drafts[marking] = _queued(decision, recipient)
            draft, message = queued
            decided[p.object_id + "@" + p.version] = _new_object(
                p, rank=marking.rank, topics=_scope(marking.topics), outbox=draft, message=message
            )
            for ref in _marking_refs(p.data):
                routes_by_definition.setdefault(ref, draft)
                carriers.setdefault(ref, set()).add((p.object_id, p.version_us))
        parts: list[Part] = []
        for p in posted:
            if p.type != "marking-definition":
                parts.append(decided[p.object_id + "@" + p.version])
            elif p.object_id in known.changed:
                parts.append(
                    Rejected(object_id=p.object_id, version=p.version, message=DEFINITION_CHANGED)
                )
            elif p.object_id in routes_by_definition:
                held = self._definition_part(p)
                parts.append(
                    _new_object(
                        p,
                        rank=held.level_rank,
                        topics=held.topics,
                        outbox=routes_by_definition[p.object_id],
                        message="travels with the items that reference it; awaiting delivery",
                        travels_with=frozenset(carriers[p.object_id]),
                    )
                )
            else:
                parts.append(
                    Rejected(
                        object_id=p.object_id,
                        version=p.version,
                        message="not shared: a marking-definition is shared only with an "
                        "item that references it and may be shared",
                    )
                )
        return parts


def _queued(decision: RouteDecision, recipient: str) -> tuple[OutboxDraft, str]:
    """The outbox request of a share under ``decision``, and its status message."""
    draft = OutboxDraft(
        recipient=recipient, route=json.dumps(decision.to_json(), ensure_ascii=False)
    )
    message = (
        f"{decision.decision} route {' -> '.join(decision.path)} under "
        f"{', '.join(decision.agreements)}; awaiting delivery"
    )
    if decision.consent_from:
        message += f" (needs consent from {', '.join(decision.consent_from)})"
    return draft, message


@dataclass(frozen=True, kw_only=True)
class Definitions:
    found: Mapping[str, Mapping[str, Any]]  # id -> definition (the stored one if stored)
    changed: frozenset[str]  # ids whose envelope copy differs from the stored one

    def refusal(self, posted: PostedObject) -> Rejected | None:
        """An object referencing a changed definition is refused: the stored one rules."""
        changed = sorted(ref for ref in _marking_refs(posted.data) if ref in self.changed)
        if not changed:
            return None
        return Rejected(
            object_id=posted.object_id,
            version=posted.version,
            message=f"marking-definition {changed[0]} in the envelope differs from the stored "
            "one (or from another copy in the envelope); marking-definitions are immutable: "
            "post the stored one or a new marking under a new id",
        )


def _require_onward(
    posted: PostedObject, marking: ItemMarking, party: str, copies: Sequence[ReceivedCopy]
) -> None:
    """Third-party rule, for an object this node received from another party: it is that
    party's item, whatever marking or version the holder gives it, so it goes on only as
    received (the originator's signed envelope, with its consent) and only from its first
    recipient (never further)."""
    where = posted.object_id
    theirs = sorted({c.originator for c in copies if c.originator != party})
    if not theirs:
        return  # this node's own item, come back to it
    owner = theirs[0]
    if marking.originator != owner:
        raise MarkingError(
            f"{where} is {owner}'s item: this node received it from {owner}, and a new "
            f"marking or version does not make it {marking.originator}'s; it goes on only "
            f"as {owner}'s item, as received, with {owner}'s consent (third-party rule)"
        )
    same = [c for c in copies if c.originator == owner and c.version_us == posted.version_us]
    if not same:
        raise MarkingError(
            f"version {posted.version} of {where} is not one this node received from "
            f"{owner}; {owner}'s item goes on only as {owner} signed it (a new version of "
            f"it is still {owner}'s item)"
        )
    if not any(c.first_hand for c in same):
        raise MarkingError(
            f"this node received {where} from {same[0].sender}, which shared {owner}'s "
            f"item onward; an item goes onward only from its first recipient, never further"
        )


def _scope(topics: frozenset[str]) -> frozenset[str]:
    """An item marking without topics is for readers of all topics only."""
    return topics or frozenset({UNSCOPED})


def _marking_refs(data: Mapping[str, Any]) -> list[str]:
    return [r for r in marking_refs(data) if isinstance(r, str)]


def _new_object(
    posted: PostedObject,
    *,
    rank: int,
    topics: frozenset[str],
    outbox: OutboxDraft | None = None,
    message: str = "",
    travels_with: frozenset[tuple[str, int]] = frozenset(),
) -> NewObject:
    return NewObject(
        object_id=posted.object_id,
        type=posted.type,
        spec_version=posted.spec_version,
        version=posted.version,
        version_us=posted.version_us,
        level_rank=rank,
        topics=topics,
        body=posted.body,
        digest=posted.digest,
        outbox=outbox,
        pending_message=message,
        travels_with=travels_with,
    )


def _claims_item_marking(
    data: Mapping[str, Any], definitions: Mapping[str, Mapping[str, Any]]
) -> bool:
    """Does the object reference an item marking (or something we cannot look at)?"""
    from tisa.model.item_marking import _is_known_tlp

    for ref in marking_refs(data):
        if not isinstance(ref, str):
            return True
        definition = definitions.get(ref)
        if definition is None:
            if not _is_known_tlp(ref):
                return True
            continue
        extensions = definition.get("extensions")
        if isinstance(extensions, Mapping) and (
            TISA_MARKING_EXTENSION in extensions or ACS_MARKING_EXTENSION in extensions
        ):
            return True
    return False


def _filters(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    filters: dict[str, str] = {}
    for name, value in params:
        if name not in _FILTERS:
            raise InvalidInput(
                f"unknown query parameter {name!r}; filters are: {', '.join(sorted(_FILTERS))}"
            )
        if name in filters:
            if name in ("limit", "next", "added_after"):
                raise InvalidInput(f"{name} may be given only once")
            filters[name] = filters[name] + "," + value
        else:
            filters[name] = value
    return filters


def _limit(value: str | None, maximum: int) -> int:
    if value is None:
        return min(100, maximum)
    try:
        limit = int(value)
    except ValueError:
        raise InvalidInput(f"limit {value!r} is not a positive integer") from None
    if limit < 1:
        raise InvalidInput(f"limit {value!r} is not a positive integer")
    return min(limit, maximum)


def _values(value: str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    return frozenset(v for v in (s.strip() for s in value.split(",")) if v)


def _versions(value: str) -> VersionFilter:
    first = last = every = False
    exact: set[int] = set()
    for word in _values(value):
        if word == "first":
            first = True
        elif word == "last":
            last = True
        elif word == "all":
            every = True
        else:
            exact.add(parse_timestamp(word, what="match[version]"))
    if not (first or last or every or exact):
        raise InvalidInput("match[version] needs first, last, all or timestamps")
    return VersionFilter(first=first, last=last, all=every, exact=frozenset(exact))
