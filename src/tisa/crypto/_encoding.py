"""Strict JSON and base64 shared by envelopes and statements (not public API).

Strict means: one text per value. Duplicate object keys, ``NaN``/``Infinity``,
floats where the caller forbids them, and non-canonical base64 are refused
with ``InvalidInput`` naming where the problem is.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Set

from tisa.errors import InvalidInput


def load_json(data: bytes | str, where: str) -> object:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN
        raise InvalidInput(f"{where}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{where}: nested too deeply") from exc


def canonical_json(value: object) -> bytes:
    """Sorted keys, compact separators, UTF-8 (no ``\\u`` escapes for non-ASCII)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def fields_of(
    obj: object, where: str, *, required: Set[str], optional: Set[str] = frozenset()
) -> dict[str, object]:
    """``obj`` as a JSON object with exactly the ``required`` and some ``optional`` keys."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: must be a JSON object")
    keys = set(obj)
    if missing := required - keys:
        raise InvalidInput(f"{where}: missing {', '.join(sorted(missing))}")
    if unknown := keys - required - optional:
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return obj


def b64decode(value: object, where: str) -> bytes:
    """Standard or URL-safe base64 (DSSE allows both), padding optional, canonical."""
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a base64 string")
    text = value
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            raise InvalidInput(f"{where}: mixes standard and URL-safe base64")
        text = text.replace("-", "+").replace("_", "/")
    if "=" in text and len(text) % 4:
        raise InvalidInput(f"{where}: bad base64 padding")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{where}: not valid base64") from exc
    # Stray low bits would give one value two texts.
    if base64.b64encode(raw).decode("ascii").rstrip("=") != text.rstrip("="):
        raise InvalidInput(f"{where}: non-canonical base64")
    return raw


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
