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
from typing import TypeAlias, cast

from tisa.errors import InvalidInput


def load_json(data: bytes | str, where: str) -> object:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8") from exc
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN
        raise InvalidInput(f"{where}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{where}: nested too deeply") from exc


def canonical_json(value: object) -> bytes:
    """Sorted keys, compact separators, UTF-8 (no ``\\u`` escapes for non-ASCII)."""
    text = _ENCODER.encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, as from "\ud800"
        raise InvalidInput("a string is not valid Unicode (lone surrogate)") from exc


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
    # Stray low bits would give one value two texts. Only a last group of two or three
    # characters (one or two bytes) has unused bits: that group is encoded again (a full
    # group of four is the one text of its three bytes).
    end = len(text) - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)
    tail = end % 4
    if tail and base64.b64encode(raw[-(tail - 1):]).decode("ascii").rstrip("=") != (
            text[end - tail:end]):
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


# Built once: ``json.loads``/``json.dumps`` with options build a new codec on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


# -- JSON values that have one canonical text --------------------------------

JsonValue: TypeAlias = "str | int | bool | list[JsonValue] | dict[str, JsonValue]"

#: I-JSON (RFC 7493): integers beyond 2**53 - 1 do not survive every parser.
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_DEPTH = 64


def check_json_value(value: object, where: str) -> JsonValue:
    """``value`` if it is strings, safe integers, booleans, lists and objects
    only: no floats (no single canonical text), no nulls. (Lone surrogates are
    caught when the value is encoded, by ``canonical_json``.)"""
    if _is_plain(value):
        return cast(JsonValue, value)
    return _diagnose(value, where, 0)  # the slow walk names the offending place


def _is_plain(value: object) -> bool:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is bool:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= cast(int, item) <= MAX_SAFE_INTEGER:
                continue
            return False
        if depth >= _MAX_DEPTH:
            return False
        if kind is list:
            stack.extend((v, depth + 1) for v in cast(list[object], item))
        elif kind is dict:
            for k, v in cast(dict[object, object], item).items():
                if type(k) is not str:
                    return False
                stack.append((v, depth + 1))
        else:
            return False
    return True


def _diagnose(value: object, where: str, depth: int) -> JsonValue:
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"{where}: nested deeper than {_MAX_DEPTH}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise InvalidInput(f"{where}: integer {value} is beyond 2**53 - 1")
        return value
    if isinstance(value, str):
        _check_text(value, where)
        return value
    if isinstance(value, list):
        return [_diagnose(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        result: dict[str, JsonValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInput(f"{where}: object key {k!r} is not a string")
            _check_text(k, where)
            result[k] = _diagnose(v, f"{where}.{k}", depth + 1)
        return result
    if isinstance(value, float):
        raise InvalidInput(f"{where}: floats are not allowed (got {value!r})")
    if value is None:
        raise InvalidInput(f"{where}: null is not allowed; leave the field out")
    raise InvalidInput(f"{where}: {type(value).__name__} is not a JSON value")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from "\ud800"
        raise InvalidInput(f"{where}: string is not valid Unicode") from exc
