"""The one place costlens reads the wall clock for a date.

What "today" is decides only defaults (the last month ``demo`` and ``generate-sample`` write),
never a figure: the dashboard, scans and reports reason from the data's own dates. ``Settings``
may pin it (``today`` / ``COSTLENS_TODAY``) for a reproducible demo; the test suite pins it and
makes reaching this function an error, so a new dependence on the calendar shows at once.
Timestamps that record when something happened (a snapshot's build time, a ledger row's ``at``)
read ``datetime.now(UTC)`` where they are taken and are not "today".
"""

from __future__ import annotations

from datetime import date

__all__ = ["wall_clock_today"]


def wall_clock_today() -> date:
    """The machine's date."""
    return date.today()
