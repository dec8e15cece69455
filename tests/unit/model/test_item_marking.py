"""Item markings: tisa and ISA ACS 3.0 read into one value; everything else fails closed."""

from __future__ import annotations

from typing import Any

import pytest

from tisa.model.item_marking import (
    ACS_MARKING_EXTENSION,
    TISA_MARKING_EXTENSION,
    ItemMarking,
    MarkingError,
    item_marking,
    marking_from_definition,
    require_originator,
)

NATIVE = {("군사Ⅱ급비밀", "KOR"): "SECRET", ("極秘", "JPN"): "SECRET"}


def resolve(name: str, originator: str) -> str | None:
    return NATIVE.get((name, originator))


def tisa_definition(ident: str = "marking-definition--0b9ce1a6-1c8a-4c0e-9a6a-1d0f4c1e8a01",
                    **fields: Any) -> dict[str, Any]:
    ext = {"extension_type": "property-extension", "level": "SECRET", "originator": "KOR",
           "topics": ["nk-missile"]}
    ext.update(fields)
    return {"type": "marking-definition", "spec_version": "2.1", "id": ident,
            "created": "2026-01-01T00:00:00Z", "extensions": {TISA_MARKING_EXTENSION: ext}}


def indicator(*refs: str) -> dict[str, Any]:
    return {"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "object_marking_refs": list(refs)}


def test_tisa_marking_reads_level_originator_topics_and_rel_to() -> None:
    d = tisa_definition(releasable_to=["JPN", "USA"], consent_to=["USA"])
    m = marking_from_definition(d, resolve)
    assert m == ItemMarking(level="SECRET", originator="KOR", topics=frozenset({"nk-missile"}),
                            releasable_to=frozenset({"JPN", "USA"}),
                            consent_to=frozenset({"USA"}), definition_id=d["id"])
    assert m.rank == 2


def test_native_level_name_is_resolved_through_the_originator() -> None:
    m = marking_from_definition(tisa_definition(level="군사Ⅱ급비밀"), resolve)
    assert m is not None
    assert m.level == "SECRET"


@pytest.mark.parametrize("level", ["極秘", "SECRETISH", ""])
def test_unknown_or_foreign_native_level_is_refused(level: str) -> None:
    with pytest.raises(MarkingError, match="level"):
        marking_from_definition(tisa_definition(level=level), resolve)


def test_acs_marking_reads_classification_originator_and_nationalities() -> None:
    d = {"type": "marking-definition",
         "id": "marking-definition--20864905-06a0-47be-a04c-2164af17d635",
         "extensions": {ACS_MARKING_EXTENSION: {
             "extension_type": "property-extension", "responsible_entity_originator": "USA.NSA",
             "control_set": {"classification": "TS", "permitted_nationalities": ["USA", "KOR"]}}}}
    m = marking_from_definition(d, resolve)
    assert m is not None
    assert (m.level, m.originator, m.releasable_to) == ("TOP SECRET", "USA",
                                                        frozenset({"USA", "KOR"}))
    assert m.source == ACS_MARKING_EXTENSION


def test_acs_without_originator_is_refused() -> None:
    d = {"type": "marking-definition", "id": "marking-definition--x",
         "extensions": {ACS_MARKING_EXTENSION: {"control_set": {"classification": "S"}}}}
    with pytest.raises(MarkingError, match="responsible_entity_originator"):
        marking_from_definition(d, resolve)


def test_tlp_or_statement_marking_is_not_an_item_marking() -> None:
    statement = {"type": "marking-definition", "definition": {}}
    assert marking_from_definition(statement, resolve) is None


def test_object_without_refs_is_refused() -> None:
    with pytest.raises(MarkingError, match="no object_marking_refs"):
        item_marking({"id": "indicator--1"}, {}, resolve)


def test_object_with_unknown_definition_is_refused() -> None:
    with pytest.raises(MarkingError, match="unknown"):
        item_marking(indicator("marking-definition--nope"), {}, resolve)


def test_object_with_only_tlp_is_refused() -> None:
    tlp_green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    with pytest.raises(MarkingError, match="none of its markings"):
        item_marking(indicator(tlp_green), {}, resolve)


def test_object_picks_its_item_marking() -> None:
    d = tisa_definition()
    tlp_green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    m = item_marking(indicator(tlp_green, d["id"]), {d["id"]: d}, resolve)
    assert m.level == "SECRET"


def test_two_different_item_markings_are_refused() -> None:
    a = tisa_definition("marking-definition--a")
    b = tisa_definition("marking-definition--b", level="CONFIDENTIAL")
    with pytest.raises(MarkingError, match="two different"):
        item_marking(indicator(a["id"], b["id"]), {a["id"]: a, b["id"]: b}, resolve)


def test_originator_must_be_this_node() -> None:
    m = marking_from_definition(tisa_definition(originator="JPN", level="SECRET"), resolve)
    assert m is not None
    with pytest.raises(MarkingError, match="originator is JPN"):
        require_originator(m, "KOR", where="indicator--1")


@pytest.mark.parametrize(("field", "value"), [("topics", "nk"), ("topics", []),
                                          ("releasable_to", []),
                                          ("originator", ""), ("extension_type", "toplevel")])
def test_malformed_fields_are_refused(field: str, value: Any) -> None:
    with pytest.raises(MarkingError):
        marking_from_definition(tisa_definition(**{field: value}), resolve)


def test_combined_marking_folds_object_and_granular_markings() -> None:
    from tisa.model.item_marking import combined_marking

    a = tisa_definition("marking-definition--0b9ce1a6-1c8a-4c0e-9a6a-1d0f4c1e8a0a",
                        level="CONFIDENTIAL", topics=["nk-nuclear"], releasable_to=["JPN", "USA"])
    b = tisa_definition("marking-definition--0b9ce1a6-1c8a-4c0e-9a6a-1d0f4c1e8a0b",
                        level="TOP SECRET", topics=["nk-missile"], releasable_to=["USA"])
    obj = indicator(a["id"]) | {"granular_markings": [{"marking_ref": b["id"],
                                                        "selectors": ["name"]}]}
    m = combined_marking(obj, {a["id"]: a, b["id"]: b}, resolve)
    assert (m.level, m.topics, m.releasable_to) == (
        "TOP SECRET", frozenset({"nk-nuclear", "nk-missile"}), frozenset({"USA"}))
    with pytest.raises(MarkingError, match="two different"):
        item_marking(obj, {a["id"]: a, b["id"]: b}, resolve)
    with pytest.raises(MarkingError, match="unknown"):
        combined_marking(obj, {a["id"]: a}, resolve)
