"""STIX 2.1 objects for the node tests, all valid under stix2-validator's strict mode."""

from __future__ import annotations

import uuid
from typing import Any

TISA_EXT = "extension-definition--e85c7fa0-c18a-46d5-ac9f-9d19977f175f"
ACS_EXT = "extension-definition--3a65884d-005a-4290-8335-cb2d778a83ce"
CREATED = "2026-11-01T00:00:00.000Z"


def tisa_marking(level: str = "SECRET", originator: str = "KOR",
                 topics: tuple[str, ...] = ("nk-missile",), **extra: Any) -> dict[str, Any]:
    ext: dict[str, Any] = {"extension_type": "property-extension", "level": level,
                           "originator": originator, "topics": list(topics), **extra}
    return {"type": "marking-definition", "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}", "created": CREATED,
            "name": f"{originator} {level} {' '.join(topics)}", "extensions": {TISA_EXT: ext}}


def acs_marking(classification: str = "S", originator: str = "KOR.MND",
                nationalities: tuple[str, ...] = ("KOR", "JPN", "USA")) -> dict[str, Any]:
    return {"type": "marking-definition", "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}", "created": CREATED,
            "name": f"ACS {classification}",
            "extensions": {ACS_EXT: {
                "extension_type": "property-extension", "identifier": "isa:tisa.test",
                "create_date_time": CREATED, "responsible_entity_custodian": "KOR.MND",
                "responsible_entity_originator": originator,
                "policy_reference": "urn:isa:policy:acs:ns:v3.0?privdefault=deny&sharedefault=deny",
                "control_set": {"classification": classification,
                                "permitted_nationalities": list(nationalities)}}}}


def indicator(*marking_refs: str, modified: str = CREATED, ident: str | None = None,
              name: str = "launch site telemetry") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1",
        "id": ident or f"indicator--{uuid.uuid4()}",
        "created": CREATED, "modified": modified, "name": name,
        "description": "an address seen in missile telemetry relays",
        "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
        "valid_from": CREATED,
    }
    if marking_refs:
        obj["object_marking_refs"] = list(marking_refs)
    return obj


def envelope(*objects: dict[str, Any]) -> dict[str, Any]:
    return {"objects": list(objects)}
