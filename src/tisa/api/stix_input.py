"""Reading a posted TAXII envelope: JSON, then the STIX 2.1 rules a store depends on.

``MalformedRequest`` (not JSON) and ``InvalidStix`` (JSON, but not valid STIX 2.1 objects)
both reject the whole envelope before anything is stored.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Final

from tisa.api.timestamps import parse_timestamp
from tisa.errors import InvalidInput

SCO_TYPES: Final = frozenset(
    {
        "artifact", "autonomous-system", "directory", "domain-name", "email-addr",
        "email-message", "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex",
        "network-traffic", "process", "software", "url", "user-account",
        "windows-registry-key", "x509-certificate",
    }
)
#: Arrays and objects inside one STIX object; STIX needs a handful, the JSON encoder and
#: anything recursive downstream need a bound.
MAX_NESTING: Final = 100
#: the stored text of an object (built once: ``json.dumps`` with options builds one per call)
_BODY: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$")


class MalformedRequest(InvalidInput):
    """The body is not JSON."""


class InvalidStix(InvalidInput):
    """The body is JSON but not an envelope of valid STIX 2.1 objects."""


@dataclass(frozen=True, kw_only=True)
class PostedObject:
    data: dict[str, Any]
    object_id: str
    type: str
    spec_version: str
    version: str
    version_us: int
    body: str
    digest: str


def read_envelope(raw: bytes) -> list[PostedObject]:
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise MalformedRequest(
            f"the body is nested too deeply (at most {MAX_NESTING} levels per object)"
        ) from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise InvalidStix('the body must be a TAXII envelope: {"objects": [ ... ]}')
    objects = envelope["objects"]
    if not objects:
        raise InvalidStix("the envelope holds no objects")
    return [read_object(i, o) for i, o in enumerate(objects)]


def read_object(index: int, data: Any) -> PostedObject:
    where = f"objects[{index}]"
    if not isinstance(data, dict):
        raise InvalidStix(f"{where}: a STIX object must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or not _TYPE.match(kind) or kind == "bundle":
        raise InvalidStix(f"{where}: type {kind!r} is not a STIX object type")
    object_id = data.get("id")
    if not isinstance(object_id, str) or not _valid_id(object_id, kind):
        raise InvalidStix(f"{where}: id {object_id!r} must be '{kind}--<UUID>'")
    where = f"{where} ({object_id})"
    if _nesting(data) > MAX_NESTING:
        raise InvalidStix(f"{where}: nested deeper than {MAX_NESTING} levels")
    spec_version = data.get("spec_version")
    if spec_version is None and kind in SCO_TYPES:
        spec_version = "2.1"
    if spec_version != "2.1":
        raise InvalidStix(f"{where}: spec_version must be \"2.1\", not {spec_version!r}")
    created = _timestamp(where, data, "created", required=kind not in SCO_TYPES)
    modified = _timestamp(
        where, data, "modified", required=kind not in SCO_TYPES and kind != "marking-definition"
    )
    if created is not None and modified is not None and modified[1] < created[1]:
        raise InvalidStix(f"{where}: modified is earlier than created")
    version, version_us = modified or created or ("", 0)
    refs = data.get("object_marking_refs")
    if refs is not None and (
        not isinstance(refs, list)
        or not all(isinstance(r, str) and r.startswith("marking-definition--") for r in refs)
    ):
        raise InvalidStix(f"{where}: object_marking_refs must list marking-definition ids")
    _check_granular(where, data.get("granular_markings"))
    body = _BODY.encode(data)
    return PostedObject(
        data=data,
        object_id=object_id,
        type=kind,
        spec_version="2.1",
        version=version,
        version_us=version_us,
        body=body,
        digest=hashlib.sha256(body.encode("utf-8")).hexdigest(),
    )


def _nesting(data: Any) -> int:
    """How deep arrays and objects nest in ``data`` (iteratively: no recursion to exhaust)."""
    if not isinstance(data, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]  # arrays and objects only
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest


def _check_granular(where: str, granular: Any) -> None:
    """Each granular marking has ``selectors`` and a ``marking_ref`` (a marking-definition
    id) or a ``lang``: one the node could not read would escape the item's ranking."""
    if granular is None:
        return
    problem = f"{where}: granular_markings must be a list of {{selectors, marking_ref or lang}}"
    if not isinstance(granular, list) or not granular:
        raise InvalidStix(problem)
    for g in granular:
        if not isinstance(g, dict) or not isinstance(g.get("selectors"), list):
            raise InvalidStix(problem)
        ref, lang = g.get("marking_ref"), g.get("lang")
        if ref is None and isinstance(lang, str):
            continue
        if not isinstance(ref, str) or not ref.startswith("marking-definition--"):
            raise InvalidStix(problem)


def _timestamp(
    where: str, data: dict[str, Any], field: str, *, required: bool
) -> tuple[str, int] | None:
    value = data.get(field)
    if value is None:
        if required:
            raise InvalidStix(f"{where}: {field} is required")
        return None
    try:
        return value, parse_timestamp(value, what=field)
    except InvalidInput as exc:
        raise InvalidStix(f"{where}: {exc}") from None


def _valid_id(object_id: str, kind: str) -> bool:
    prefix = kind + "--"
    if not object_id.startswith(prefix):
        return False
    try:
        uuid.UUID(object_id[len(prefix) :])
    except ValueError:
        return False
    return len(object_id) == len(prefix) + 36
