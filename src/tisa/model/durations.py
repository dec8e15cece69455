"""ISO 8601 durations counted in whole days (``P1Y``, ``P6M``, ``P2W``, ``P90D``)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from tisa.errors import InvalidInput

#: longer than any real term or notice period; bounds keep date arithmetic finite
MAX_YEARS = 1000

_PATTERN = re.compile(r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


@dataclass(frozen=True, kw_only=True)
class Duration:
    """A calendar duration; years and months move along the calendar, then weeks and days."""

    years: int = 0
    months: int = 0
    days: int = 0
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"P{self.years}Y{self.months}M{self.days}D"

    @property
    def is_zero(self) -> bool:
        return self.years == 0 and self.months == 0 and self.days == 0

    def after(self, start: date, times: int = 1) -> date:
        """``start`` plus ``times`` of this duration, computed from ``start`` in one step
        (so a term anniversary on 29 February does not drift to the 28th for ever).
        A result past the calendar's end is ``date.max``."""
        total_months = (self.years * 12 + self.months) * times
        year, month0 = divmod(start.month - 1 + total_months, 12)
        year += start.year
        if year > date.max.year:
            return date.max  # beyond the calendar: saturate, never wrap or crash
        last_day = calendar.monthrange(year, month0 + 1)[1]
        moved = start.replace(year=year, month=month0 + 1, day=min(start.day, last_day))
        try:
            return moved + timedelta(days=self.days * times)
        except OverflowError:
            return date.max


def parse_duration(text: str) -> Duration:
    """Parse a date-only ISO 8601 duration; anything else is an error saying what to write."""
    match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"{text!r} is not an ISO 8601 duration in whole days; "
            "write e.g. 'P1Y', 'P6M', 'P2W' or 'P90D'"
        )
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    if years > MAX_YEARS or months > MAX_YEARS * 12 or weeks * 7 + days > MAX_YEARS * 366:
        raise InvalidInput(f"{text!r} is longer than {MAX_YEARS} years; no agreement term is")
    duration = Duration(years=years, months=months, days=weeks * 7 + days, text=text.strip())
    if duration.is_zero:
        raise InvalidInput(f"{text!r} is a zero duration; leave the field out instead")
    return duration
