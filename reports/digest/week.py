"""ISO weeks: the unit of the digest (``2026-W47``, Monday to Sunday)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from costlens.errors import ReportError

__all__ = ["IsoWeek", "last_complete_week"]

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """One ISO week.

    >>> w = IsoWeek.parse("2025-W26")
    >>> w.start, w.end, str(w)
    (datetime.date(2025, 6, 23), datetime.date(2025, 6, 29), '2025-W26')
    >>> str(w.shift(-4))
    '2025-W22'
    """

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``YYYY-Www`` → the week; a ``ReportError`` naming ``--week`` otherwise."""
        match = _WEEK.match(text.strip())
        if match:
            try:
                dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
                return cls(int(match[1]), int(match[2]))
            except ValueError:
                pass
        raise ReportError(
            f"not an ISO week: {text!r}",
            where="--week",
            fix="write the week as YYYY-Www, e.g. 2025-W26",
        )

    @classmethod
    def of(cls, day: dt.date) -> IsoWeek:
        """The week ``day`` falls in."""
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @property
    def start(self) -> dt.date:
        """Its Monday."""
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def end(self) -> dt.date:
        """Its Sunday."""
        return self.start + dt.timedelta(days=6)

    def shift(self, weeks: int) -> IsoWeek:
        """The week ``weeks`` later (earlier when negative)."""
        return IsoWeek.of(self.start + dt.timedelta(weeks=weeks))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def last_complete_week(last_date: dt.date | None) -> IsoWeek | None:
    """The last ISO week whose Sunday is on or before ``last_date`` (the data's last day, never
    the clock).

    >>> str(last_complete_week(dt.date(2025, 6, 30)))  # a Monday: W27 has only begun
    '2025-W26'
    >>> str(last_complete_week(dt.date(2025, 6, 29)))  # a Sunday
    '2025-W26'
    """
    if last_date is None:
        return None
    week = IsoWeek.of(last_date)
    return week if week.end <= last_date else week.shift(-1)
