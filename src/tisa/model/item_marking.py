"""An item's marking, read from the STIX marking-definitions that an object references.

Two marking vocabularies are understood and folded into one frozen ``ItemMarking``:

* the tisa property extension (``TISA_MARKING_EXTENSION``): ``level`` (a reference level
  or the originator's native name for it), ``originator`` (party code), ``topics``, optional
  ``releasable_to`` and ``consent_to`` (party codes);
* ISA ACS 3.0 (``ACS_MARKING_EXTENSION``): ``control_set.classification`` (U/C/S/TS),
  ``responsible_entity_originator`` (``KOR.MND`` names party ``KOR``) and
  ``control_set.permitted_nationalities`` (REL TO; ``ALL`` means no restriction).

Everything here is pure. Anything that cannot be read with certainty raises
``MarkingError`` with the reason: callers refuse the item (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tisa.errors import Denied
from tisa.model.levels import REFERENCE_LEVELS

TISA_MARKING_EXTENSION: Final = "extension-definition--e85c7fa0-c18a-46d5-ac9f-9d19977f175f"
ACS_MARKING_EXTENSION: Final = "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce"

ACS_CLASSIFICATIONS: Final = {
    "U": "UNCLASSIFIED",
    "C": "CONFIDENTIAL",
    "S": "SECRET",
    "TS": "TOP SECRET",
}

#: The tisa extension-definition object, served by every node in its ``local`` collection.
TISA_EXTENSION_DEFINITION: Final[Mapping[str, Any]] = {
    "type": "extension-definition",
    "spec_version": "2.1",
    "id": TISA_MARKING_EXTENSION,
    "created_by_ref": "identity--5bd9f0f8-0c3c-4b9e-8a6e-2f3c7d1e9a40",
    "created": "2026-11-01T00:00:00.000Z",
    "modified": "2026-11-01T00:00:00.000Z",
    "name": "tisa item marking",
    "description": (
        "Marks an item shared under agreements: its classification level (a reference level "
        "UNCLASSIFIED, CONFIDENTIAL, SECRET, TOP SECRET or the originator's native name for "
        "it), its originator (party code), its topics, and optionally the parties it is "
        "releasable to and the parties the originator consents to relay it to."
    ),
    "schema": "https://github.com/tisa/tisa/blob/main/docs/taxii.md#item-markings",
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}

#: ``resolve(level_name, originator) -> reference level name or None``
LevelResolver = Callable[[str, str], "str | None"]


class MarkingError(Denied):
    """The item's marking is missing, unreadable or not acceptable here."""


@dataclass(frozen=True, kw_only=True)
class ItemMarking:
    """What the node needs to know to hold and share an item."""

    level: str  # reference level name
    originator: str
    topics: frozenset[str]
    releasable_to: frozenset[str] | None = None
    consent_to: frozenset[str] = frozenset()
    source: str = TISA_MARKING_EXTENSION
    definition_id: str = ""

    @property
    def rank(self) -> int:
        return REFERENCE_LEVELS.index(self.level)


def marking_from_definition(
    definition: Mapping[str, Any], resolve: LevelResolver
) -> ItemMarking | None:
    """The item marking a marking-definition carries, or ``None`` if it carries none we know
    (a TLP or statement marking). Raises ``MarkingError`` for one we know but cannot read."""
    where = str(definition.get("id", "marking-definition"))
    extensions = definition.get("extensions")
    if not isinstance(extensions, Mapping):
        return None
    if TISA_MARKING_EXTENSION in extensions:
        return _read_tisa(where, extensions[TISA_MARKING_EXTENSION], resolve)
    if ACS_MARKING_EXTENSION in extensions:
        return _read_acs(where, extensions[ACS_MARKING_EXTENSION])
    return None


def item_marking(
    obj: Mapping[str, Any],
    definitions: Mapping[str, Mapping[str, Any]],
    resolve: LevelResolver,
) -> ItemMarking:
    """The one item marking of ``obj``, from the definitions it references (object-level
    and granular).

    Fails closed: no reference, a reference to a definition that is not known, or two
    different item markings on one object all raise ``MarkingError``."""
    where = str(obj.get("id", "object"))
    found = _item_markings(where, obj, definitions, resolve)
    first = found[0]
    for other in found[1:]:
        if (other.level, other.originator, other.topics, other.releasable_to) != (
            first.level,
            first.originator,
            first.topics,
            first.releasable_to,
        ):
            raise MarkingError(
                f"{where}: references two different item markings "
                f"({first.definition_id}, {other.definition_id}); keep one"
            )
    return first


def combined_marking(
    obj: Mapping[str, Any],
    definitions: Mapping[str, Mapping[str, Any]],
    resolve: LevelResolver,
) -> ItemMarking:
    """Everything ``obj``'s markings (``object_marking_refs`` and every
    ``granular_markings[].marking_ref``) demand together, to hold it: the highest level,
    the union of the topics (none if any marking names none), the intersection of the
    REL TO lists. Raises ``MarkingError`` like ``item_marking``, and for two originators."""
    where = str(obj.get("id", "object"))
    found = _item_markings(where, obj, definitions, resolve)
    originators = {m.originator for m in found}
    if len(originators) > 1:
        raise MarkingError(f"{where}: markings name different originators")
    topics: frozenset[str] = frozenset()
    if all(m.topics for m in found):
        topics = frozenset().union(*(m.topics for m in found))
    releasable: frozenset[str] | None = None
    for m in found:
        if m.releasable_to is not None:
            releasable = m.releasable_to if releasable is None else releasable & m.releasable_to
    highest = max(found, key=lambda m: m.rank)
    return ItemMarking(
        level=highest.level,
        originator=highest.originator,
        topics=topics,
        releasable_to=releasable,
        consent_to=frozenset.intersection(*(m.consent_to for m in found)),
        source=highest.source,
        definition_id=highest.definition_id,
    )


def marking_refs(obj: Mapping[str, Any]) -> list[str]:
    """Every marking-definition id ``obj`` references: ``object_marking_refs`` first, then
    each ``granular_markings[].marking_ref``. Non-strings are kept for the caller to refuse."""
    refs: list[Any] = []
    value = obj.get("object_marking_refs")
    if isinstance(value, list):
        refs.extend(value)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(g.get("marking_ref") for g in granular if isinstance(g, Mapping) and (
            "marking_ref" in g))
    return refs


def _item_markings(
    where: str,
    obj: Mapping[str, Any],
    definitions: Mapping[str, Mapping[str, Any]],
    resolve: LevelResolver,
) -> list[ItemMarking]:
    refs = marking_refs(obj)
    if not refs:
        raise MarkingError(
            f"{where}: no object_marking_refs; reference a marking-definition carrying the "
            f"tisa extension {TISA_MARKING_EXTENSION} (or ISA ACS 3.0)"
        )
    found: list[ItemMarking] = []
    for ref in refs:
        if not isinstance(ref, str):
            raise MarkingError(f"{where}: a marking reference is a non-string {ref!r}")
        definition = definitions.get(ref)
        if definition is None:
            if _is_known_tlp(ref):
                continue
            raise MarkingError(
                f"{where}: marking-definition {ref} is unknown; post it in the same envelope "
                f"or to the local collection first"
            )
        marking = marking_from_definition(definition, resolve)
        if marking is not None:
            found.append(marking)
    if not found:
        raise MarkingError(
            f"{where}: none of its markings is an item marking (tisa extension "
            f"{TISA_MARKING_EXTENSION} or ISA ACS 3.0); an item without a level and an "
            f"originator cannot be shared"
        )
    return found


def require_originator(marking: ItemMarking, party: str, *, where: str) -> None:
    """Only the originator's own node may share an item first-hand."""
    if marking.originator != party:
        raise MarkingError(
            f"{where}: originator is {marking.originator}, not this node's party {party}; "
            f"only the originator's node shares an item first-hand"
        )


def _read_tisa(where: str, ext: Any, resolve: LevelResolver) -> ItemMarking:
    if not isinstance(ext, Mapping):
        raise MarkingError(f"{where}: the tisa extension must be an object")
    if ext.get("extension_type") != "property-extension":
        raise MarkingError(f"{where}: the tisa extension needs extension_type property-extension")
    originator = ext.get("originator")
    if not isinstance(originator, str) or not originator:
        raise MarkingError(f"{where}: the tisa marking needs an originator (a party code)")
    level_name = ext.get("level")
    if not isinstance(level_name, str) or not level_name:
        raise MarkingError(f"{where}: the tisa marking needs a level")
    level = level_name if level_name in REFERENCE_LEVELS else resolve(level_name, originator)
    if level is None or level not in REFERENCE_LEVELS:
        raise MarkingError(
            f"{where}: unknown level {level_name!r}; use a reference level "
            f"({', '.join(REFERENCE_LEVELS)}) or {originator}'s native name for one"
        )
    topics = _strings(where, "topics", ext.get("topics"), required=True)
    releasable = ext.get("releasable_to")
    consent = ext.get("consent_to")
    return ItemMarking(
        level=level,
        originator=originator,
        topics=frozenset(topics),
        releasable_to=None
        if releasable is None
        else frozenset(_strings(where, "releasable_to", releasable, required=True)),
        consent_to=frozenset(_strings(where, "consent_to", consent, required=False)),
        source=TISA_MARKING_EXTENSION,
        definition_id=where,
    )


def _read_acs(where: str, ext: Any) -> ItemMarking:
    if not isinstance(ext, Mapping):
        raise MarkingError(f"{where}: the ISA ACS 3.0 extension must be an object")
    control = ext.get("control_set")
    if not isinstance(control, Mapping):
        raise MarkingError(f"{where}: the ISA ACS 3.0 marking needs a control_set")
    classification = control.get("classification")
    level = ACS_CLASSIFICATIONS.get(classification) if isinstance(classification, str) else None
    if level is None:
        raise MarkingError(
            f"{where}: unknown ISA ACS classification {classification!r}; use U, C, S or TS"
        )
    originator_entity = ext.get("responsible_entity_originator")
    if not isinstance(originator_entity, str) or not originator_entity:
        raise MarkingError(
            f"{where}: the ISA ACS 3.0 marking needs responsible_entity_originator "
            f"(e.g. KOR.MND) to name the originator"
        )
    nationalities = control.get("permitted_nationalities")
    releasable: frozenset[str] | None = None
    if nationalities is not None:
        values = _strings(where, "permitted_nationalities", nationalities, required=True)
        releasable = None if values == ["ALL"] else frozenset(values)
    # ACS has no topics: only readers of all topics see it, and the route engine refuses it.
    return ItemMarking(
        level=level,
        originator=originator_entity.split(".", 1)[0],
        topics=frozenset(),
        releasable_to=releasable,
        source=ACS_MARKING_EXTENSION,
        definition_id=where,
    )


def _strings(where: str, field: str, value: Any, *, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MarkingError(f"{where}: {field} must be a list of non-empty strings")
    if required and not value:
        raise MarkingError(f"{where}: {field} must not be empty")
    return list(value)


_TLP_IDS: Final = frozenset(
    {
        # TLP 2.0
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        # TLP 1.0 (STIX 2.1 spec section 7.2.1.4)
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
)


def _is_known_tlp(ref: str) -> bool:
    return ref in _TLP_IDS


def referenced_definition_ids(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    refs: set[str] = set()
    for obj in objects:
        refs.update(r for r in marking_refs(obj) if isinstance(r, str))
    return refs
