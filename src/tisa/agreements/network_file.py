"""Parse and validate a network file (TOML). Every problem is collected and reported.

The format is a contract (``docs/network-file.md``). Unknown keys are errors:
a misspelt field must never silently widen or narrow sharing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeGuard

from tisa.agreements.lifecycle import lifecycle_errors
from tisa.crypto.keys import parse_public_key, public_key_bytes
from tisa.crypto.sealing import parse_seal_public_key, seal_public_key_bytes
from tisa.errors import InvalidInput, NetworkFileError, Problem
from tisa.model.durations import Duration, parse_duration
from tisa.model.levels import REFERENCE_LEVELS, is_reference_level
from tisa.model.network import (
    ALL_TOPICS,
    TOPIC_LABEL,
    Agreement,
    AgreementEvent,
    AgreementId,
    AgreementKind,
    EventKind,
    Network,
    Party,
    PartyCode,
    Scope,
    ScopeChange,
)

PARTY_CODE = re.compile(r"[A-Z][A-Z0-9]{1,15}")
AGREEMENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ENDPOINT = re.compile(r"https?://[^\s/?#]+(?::\d+)?/?")

_TOP_KEYS = {"name", "parties", "agreements"}
_PARTY_KEYS = {"name", "levels", "endpoint", "public_key", "seal_key"}
_AGREEMENT_KEYS = {
    "name",
    "kind",
    "parties",
    "hub",
    "max_level",
    "topics",
    "in_force",
    "term",
    "notice",
    "events",
    "hub_reads",
}
_EVENT_KEYS = {"date", "event", "by", "changes", "note"}
_CHANGE_KEYS = {"max_level", "topics"}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem(where=where, field=field, message=message))

    def unknown_keys(self, where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.add(where, key, f"unknown field; allowed fields: {', '.join(sorted(allowed))}")


def parse_network(text: str, *, source: str = "<network>") -> Network:
    """Parse network TOML; raise ``NetworkFileError`` listing every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NetworkFileError(
            source, [Problem(where="file", field="syntax", message=f"TOML syntax error: {exc}")]
        ) from None
    out = _Collector()
    out.unknown_keys("network", data, _TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        out.add("network", "name", "missing or empty; give the network a name")
        name = ""
    parties = _parse_parties(data.get("parties"), out)
    agreements = _parse_agreements(data.get("agreements"), parties, out)
    if out.problems:
        raise NetworkFileError(source, out.problems)
    return Network(name=name, parties=parties, agreements=agreements)


def _table(value: Any, where: str, field: str, out: _Collector) -> dict[str, Any] | None:
    if value is None:
        out.add(where, field, "missing; add a table")
        return None
    if not isinstance(value, dict):
        out.add(where, field, f"must be a table, not {type(value).__name__}")
        return None
    return value


def _is_day(value: Any) -> TypeGuard[date]:
    """A TOML local date; a date-time is not a day (and would not compare with one)."""
    return isinstance(value, date) and not isinstance(value, datetime)


def _parse_parties(value: Any, out: _Collector) -> dict[str, Party]:
    table = _table(value, "network", "parties", out)
    parties: dict[str, Party] = {}
    for code, raw in (table or {}).items():
        where = f"party {code}"
        if not PARTY_CODE.fullmatch(code):
            out.add(where, "code", "must be 2-16 upper-case letters/digits, e.g. 'KOR'")
            continue
        if not isinstance(raw, dict):
            out.add(where, "", "must be a table ([parties.CODE])")
            continue
        out.unknown_keys(where, raw, _PARTY_KEYS)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            out.add(where, "name", "missing or empty")
            name = code
        levels = _parse_levels(raw.get("levels"), where, out)
        endpoint = raw.get("endpoint")
        if endpoint is not None and (
            not isinstance(endpoint, str) or not ENDPOINT.fullmatch(endpoint)
        ):
            out.add(where, "endpoint", f"{endpoint!r} is not an http(s)://host[:port] URL")
            endpoint = None
        public_key = raw.get("public_key")
        if public_key is not None:
            try:
                parse_public_key(public_key if isinstance(public_key, str) else repr(public_key))
            except InvalidInput as exc:
                out.add(where, "public_key", f"{exc} (as printed by 'tisa node key DIR')")
                public_key = None
        seal_key = raw.get("seal_key")
        if seal_key is not None:
            try:
                parse_seal_public_key(seal_key if isinstance(seal_key, str) else repr(seal_key))
            except InvalidInput as exc:
                out.add(where, "seal_key", f"{exc} (as printed by 'tisa node key DIR --seal')")
                seal_key = None
        parties[code] = Party(
            code=PartyCode(code),
            name=name,
            levels=levels,
            endpoint=endpoint,
            public_key=public_key,
            seal_key=seal_key,
        )
    _shared_keys(parties, out)
    return parties


def _shared_keys(parties: Mapping[str, Party], out: _Collector) -> None:
    """Two parties with one key: either could sign (or open sealed items) as the other."""
    for field in ("public_key", "seal_key"):
        first: dict[bytes, str] = {}
        for code, party in parties.items():
            text = getattr(party, field)
            if text is None:
                continue
            raw = (public_key_bytes(parse_public_key(text)) if field == "public_key"
                   else seal_public_key_bytes(parse_seal_public_key(text)))
            if raw in first:
                out.add(f"party {code}", field, f"the same key as party {first[raw]}'s "
                        f"{field}; each party has its own: give {code} the key printed by "
                        f"'tisa node key DIR{' --seal' if field == 'seal_key' else ''}' on "
                        f"{code}'s node")
            else:
                first[raw] = code


def _parse_levels(value: Any, where: str, out: _Collector) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.add(where, "levels", "must be a table of reference level = native name")
        return {}
    levels: dict[str, str] = {}
    seen: dict[str, str] = {}
    for reference, native in value.items():
        if not is_reference_level(reference):
            out.add(
                where,
                f"levels.{reference}",
                f"unknown reference level; use one of: {', '.join(REFERENCE_LEVELS)}",
            )
            continue
        if not isinstance(native, str) or not native.strip():
            out.add(where, f"levels.{reference}", "native name must be a non-empty string")
            continue
        if is_reference_level(native) and native != reference:
            out.add(
                where,
                f"levels.{reference}",
                f"native name {native!r} is the reference name of another level; it would be "
                f"read as {native}. Give {reference} a different native name",
            )
            continue
        if native in seen:
            out.add(
                where, f"levels.{reference}", f"native name {native!r} also names {seen[native]}"
            )
            continue
        seen[native] = reference
        levels[reference] = native
    return levels


def _parse_agreements(
    value: Any, parties: Mapping[str, Party], out: _Collector
) -> dict[str, Agreement]:
    table = _table(value, "network", "agreements", out)
    agreements: dict[str, Agreement] = {}
    for agreement_id, raw in (table or {}).items():
        where = f"agreement {agreement_id}"
        if not AGREEMENT_ID.fullmatch(agreement_id):
            out.add(where, "id", "must be lower-case letters, digits, '.', '_' or '-'")
            continue
        if not isinstance(raw, dict):
            out.add(where, "", "must be a table ([agreements.ID])")
            continue
        agreement = _parse_agreement(AgreementId(agreement_id), raw, parties, where, out)
        if agreement is not None:
            agreements[agreement.id] = agreement
            for error in lifecycle_errors(agreement):
                out.add(where, f"events[{_file_index(raw, error.event)}]", str(error))
    return agreements


def _file_index(raw: dict[str, Any], event: AgreementEvent) -> int:
    for i, item in enumerate(raw.get("events") or []):
        if (
            isinstance(item, dict)
            and item.get("date") == event.on
            and item.get("event") == event.kind.value
        ):
            return i
    return -1


def _parse_agreement(
    agreement_id: AgreementId,
    raw: dict[str, Any],
    parties: Mapping[str, Party],
    where: str,
    out: _Collector,
) -> Agreement | None:
    before = len(out.problems)
    out.unknown_keys(where, raw, _AGREEMENT_KEYS)
    kind_text = raw.get("kind")
    try:
        kind = AgreementKind(str(kind_text))
    except ValueError:
        out.add(where, "kind", f"{kind_text!r}: must be 'bilateral' or 'relay'")
        kind = None
    members = _parse_members(raw.get("parties"), parties, where, out)
    hub = raw.get("hub")
    if kind is AgreementKind.BILATERAL:
        if len(members) != 2:
            out.add(
                where, "parties", f"a bilateral agreement has exactly 2 parties, not {len(members)}"
            )
        if hub is not None:
            out.add(where, "hub", "only relay agreements have a hub")
        if "hub_reads" in raw:
            out.add(where, "hub_reads", "only relay agreements have a hub")
    elif kind is AgreementKind.RELAY:
        if len(members) < 3:
            out.add(
                where, "parties", "a relay agreement needs the hub and at least 2 other members"
            )
        if hub is None:
            out.add(where, "hub", "missing; a relay agreement names its hub party")
        elif hub not in members:
            out.add(
                where, "hub", f"{hub!r} is not a member of the agreement ({', '.join(members)})"
            )
    hub_reads = raw.get("hub_reads", True)
    if not isinstance(hub_reads, bool):
        out.add(where, "hub_reads", "must be true or false")
        hub_reads = True
    max_level = _parse_max_level(raw.get("max_level"), parties, where, "max_level", out)
    topics = _parse_topics(raw.get("topics"), where, "topics", out)
    in_force = raw.get("in_force")
    if not _is_day(in_force):
        out.add(
            where,
            "in_force",
            f"{in_force!r}: must be a TOML date like 2016-11-23 (no quotes, no time of day)",
        )
    term = _parse_optional_duration(raw.get("term"), where, "term", out)
    notice = _parse_optional_duration(raw.get("notice"), where, "notice", out)
    events = _parse_events(raw.get("events"), members, parties, where, out)
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        out.add(where, "name", "must be a string")
    if len(out.problems) > before or kind is None or max_level is None or topics is None:
        return None
    assert isinstance(in_force, date)
    return Agreement(
        id=agreement_id,
        kind=kind,
        parties=tuple(members),
        scope=Scope(max_level=max_level, topics=topics),
        in_force=in_force,
        hub=PartyCode(hub) if isinstance(hub, str) else None,
        term=term,
        notice=notice,
        events=tuple(events),
        hub_reads=hub_reads,
        name=name,
    )


def _parse_members(
    value: Any, parties: Mapping[str, Party], where: str, out: _Collector
) -> list[PartyCode]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        out.add(where, "parties", 'must be a list of party codes, e.g. ["KOR", "JPN"]')
        return []
    members: list[PartyCode] = []
    for code in value:
        if code not in parties:
            out.add(where, "parties", f"unknown party {code!r}; declare it under [parties.{code}]")
        elif code in members:
            out.add(where, "parties", f"party {code!r} is listed twice")
        else:
            members.append(PartyCode(code))
    return members


def _parse_max_level(
    value: Any, parties: Mapping[str, Party], where: str, field: str, out: _Collector
) -> str | None:
    if isinstance(value, str) and is_reference_level(value):
        return value
    hint = ""
    if isinstance(value, str):
        natives = [
            f"{p.code}'s {value!r} is {r}"
            for p in parties.values()
            if (r := p.reference_level(value)) is not None
        ]
        if natives:
            hint = f" ({'; '.join(natives)})"
    out.add(
        where,
        field,
        f"unknown level {value!r}{hint}; use a reference level: {', '.join(REFERENCE_LEVELS)}",
    )
    return None


def _parse_topics(value: Any, where: str, field: str, out: _Collector) -> frozenset[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        out.add(where, field, 'must be a non-empty list of topics, or ["*"] for all topics')
        return None
    bad = [t for t in value if t != ALL_TOPICS and not TOPIC_LABEL.fullmatch(t)]
    if bad:
        out.add(where, field, f"bad topic(s) {bad}; use lower-case labels like 'nk-missile'")
        return None
    return frozenset(value)


def _parse_optional_duration(
    value: Any, where: str, field: str, out: _Collector
) -> Duration | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        out.add(where, field, str(exc))
        return None


def _parse_events(
    value: Any,
    members: list[PartyCode],
    parties: Mapping[str, Party],
    where: str,
    out: _Collector,
) -> list[AgreementEvent]:
    if value is None:
        return []
    if not isinstance(value, list):
        out.add(where, "events", "must be an array of tables ([[agreements.ID.events]])")
        return []
    events: list[AgreementEvent] = []
    for i, raw in enumerate(value):
        field = f"events[{i}]"
        if not isinstance(raw, dict):
            out.add(where, field, "must be a table")
            continue
        out.unknown_keys(where, raw, _EVENT_KEYS)
        on = raw.get("date")
        if not _is_day(on):
            out.add(where, f"{field}.date", f"{on!r}: must be a TOML date like 2019-08-23")
            continue
        try:
            kind = EventKind(str(raw.get("event")))
        except ValueError:
            allowed = ", ".join(k.value for k in EventKind)
            out.add(where, f"{field}.event", f"{raw.get('event')!r}: must be one of {allowed}")
            continue
        by = raw.get("by")
        if by is not None and by not in members:
            known = "" if by in parties else " (not a declared party)"
            out.add(where, f"{field}.by", f"{by!r} is not a party to this agreement{known}")
            continue
        if kind is EventKind.TERMINATION_NOTICE and by is None:
            out.add(where, f"{field}.by", "a termination notice names the party giving it")
            continue
        changes = _parse_changes(raw.get("changes"), kind, parties, where, field, out)
        if kind is EventKind.AMENDED and changes is None:
            continue
        note = raw.get("note")
        events.append(
            AgreementEvent(
                on=on,
                kind=kind,
                by=PartyCode(by) if by else None,
                changes=changes,
                note=note if isinstance(note, str) else None,
            )
        )
    return events


def _parse_changes(
    value: Any,
    kind: EventKind,
    parties: Mapping[str, Party],
    where: str,
    field: str,
    out: _Collector,
) -> ScopeChange | None:
    if kind is not EventKind.AMENDED:
        if value is not None:
            out.add(where, f"{field}.changes", "only 'amended' events carry changes")
        return None
    if not isinstance(value, dict) or not value:
        out.add(
            where,
            f"{field}.changes",
            "an amendment needs changes = { max_level = ..., topics = [...] }",
        )
        return None
    out.unknown_keys(where, value, _CHANGE_KEYS)
    max_level = None
    if "max_level" in value:
        max_level = _parse_max_level(
            value["max_level"], parties, where, f"{field}.changes.max_level", out
        )
        if max_level is None:
            return None
    topics = None
    if "topics" in value:
        topics = _parse_topics(value["topics"], where, f"{field}.changes.topics", out)
        if topics is None:
            return None
    if max_level is None and topics is None:
        return None
    return ScopeChange(max_level=max_level, topics=topics)
