from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tisa.errors import InvalidInput
from tisa.ledger.entries import MAX_ENTRY_BYTES, EntryKind, LogEntry, format_time, parse_entry
from tisa.ledger.merkle import leaf_hash

ENVELOPE = b'{"payloadType":"application/vnd.tisa.item+json","payload":"...","signatures":[]}'


def sample(**changes: object) -> LogEntry:
    fields: dict[str, object] = {
        "kind": EntryKind.SENT,
        "at": "2026-11-29T07:50:00Z",
        "item_id": "item-0001",
        "item_version": 1,
        "from_party": "KR",
        "to_party": "JP",
        "originator": "KR",
        "envelope_sha256": hashlib.sha256(ENVELOPE).hexdigest(),
        "refs": (),
    }
    fields.update(changes)
    return LogEntry(**fields)  # type: ignore[arg-type]


def test_canonical_bytes_are_sorted_and_compact() -> None:
    entry = sample()
    data = entry.to_bytes()
    assert (
        data
        == json.dumps(
            json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert b" " not in data
    assert list(json.loads(data)) == sorted(json.loads(data))
    assert parse_entry(data) == entry
    assert entry.leaf_hash() == leaf_hash(data)
    assert b"reason" not in data  # absent optional fields are omitted, not null


def test_every_kind_round_trips() -> None:
    for kind in EntryKind:
        entry = sample(kind=kind, reason="not covered by agreement KR-JP-2019")
        assert parse_entry(entry.to_bytes()) == entry
    assert len(EntryKind) == 11


@pytest.mark.parametrize(
    "data",
    [
        b'{"at": "2026-11-29T07:50:00Z"}',
        sample().to_bytes().replace(b'"item_version":1', b'"item_version":1.0'),
        sample().to_bytes().replace(b'"item_version":1', b'"item_version":1e0'),
        sample().to_bytes().replace(b'"item_version":1', b'"item_version":true'),
        sample().to_bytes().replace(b'{"at"', b'{ "at"'),
        sample().to_bytes().replace(b'{"at"', b'{"zzz":1,"at"'),
        sample().to_bytes().replace(b'{"at"', b'{"at":"2026-11-29T07:50:00Z","at"'),
        sample().to_bytes().replace(b'"kind":"sent"', b'"kind":"deleted"'),
        sample().to_bytes().replace(b"Z", b"+00:00"),
        sample().to_bytes().replace(b',"refs":[]', b""),
        sample().to_bytes().replace(b'"refs":[]', b'"reason":null,"refs":[]'),
        sample().to_bytes() + b"\n",
        b"[]",
        b"\xff",
        b"x" * (MAX_ENTRY_BYTES + 1),
    ],
)
def test_non_canonical_or_malformed_entries_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_entry(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"at": "2026-11-29 07:50:00"},
        {"at": "2026-02-30T07:50:00Z"},
        {"item_id": ""},
        {"item_version": -1},
        {"item_version": True},
        {"from_party": "K R"},
        {"envelope_sha256": "ABC"},
        {"kind": EntryKind.REFUSED, "reason": None},
        {"reason": ""},
        {"refs": ("ok", "not ok")},
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="log entry"):
        sample(**changes)


def test_field_limits_keep_every_entry_under_64_kib() -> None:
    # The largest entry the field limits allow (4-byte UTF-8 reason, all refs full).
    big = sample(reason="\U0001f600" * 4096, refs=tuple("x" * 256 for _ in range(64)))
    assert len(big.to_bytes()) < MAX_ENTRY_BYTES
    assert parse_entry(big.to_bytes()) == big
    with pytest.raises(InvalidInput, match="reason"):
        sample(reason="r" * 4097)
    with pytest.raises(InvalidInput, match="refs"):
        sample(refs=tuple("x" for _ in range(65)))


def test_format_time() -> None:
    moment = datetime(2026, 11, 29, 16, 50, tzinfo=timezone(timedelta(hours=9)))
    assert format_time(moment) == "2026-11-29T07:50:00Z"
    assert format_time(datetime(2026, 1, 1, microsecond=5, tzinfo=UTC)).endswith(".000005Z")
    with pytest.raises(InvalidInput):
        format_time(datetime(2026, 1, 1))


@given(st.data())
def test_any_flipped_byte_changes_or_breaks_the_entry(data: st.DataObject) -> None:
    original = sample().to_bytes()
    raw = bytearray(original)
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    assert leaf_hash(bytes(raw)) != leaf_hash(original)
    try:
        parsed = parse_entry(bytes(raw))
    except InvalidInput:
        return
    assert parsed != sample()
