"""How the scorecard pages word and show a scorecard: grades and their change, KPI figures,
action text as typed, owners' names, periods."""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal

from app_pages._shared import percent
from costlens import queries

__all__ = [
    "SCORECARD_COST_NOTE",
    "grade_change",
    "kpi_figure",
    "owner_names",
    "plain_text",
    "scorecard_period",
]

SCORECARD_COST_NOTE = "Scorecards use amortized cost (as AWS's KPI dashboard)"
"""The cost type every scorecard figure is on, whatever the cost type chosen in the sidebar."""


def grade_change(grade: str | None, previous: str | None) -> str:
    """A grade with the previous month's: ``"C → B ↑"`` (better), ``"B → C ↓"`` (worse),
    ``"B → B"``; just the grade on a first month; ``n/a`` for a scorecard without a grade.

    >>> grade_change("B", "C"), grade_change("C", "B"), grade_change("B", "B")
    ('C → B ↑', 'B → C ↓', 'B → B')
    >>> grade_change("A", None)
    'A'
    >>> grade_change(None, "B"), grade_change("D", "n/a")
    ('B → n/a', 'D')
    """
    letters = "FDCBA"
    now = grade if grade in tuple(letters) else None
    before = previous if previous in tuple(letters) else None
    if before is None:
        return now or "n/a"
    if now is None:
        return f"{before} → n/a"
    change = letters.index(now) - letters.index(before)
    arrow = " ↑" if change > 0 else " ↓" if change < 0 else ""
    return f"{before} → {now}{arrow}"


def kpi_figure(value: Decimal | float | None, unit: str) -> str:
    """A KPI's value or goal as people read it: shares, growth and ratios in percent, a count as
    a number, a unit cost in dollars per unit; ``n/a`` when there is none (never 0 %).

    >>> kpi_figure(Decimal("0.4216"), "share"), kpi_figure(0.05, "growth"), kpi_figure(None, "")
    ('42.2%', '+5.0%', 'n/a')
    >>> kpi_figure(Decimal("2"), "count"), kpi_figure(Decimal("0.012345"), "unit_cost")
    ('2', '$0.012345')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "count":
        return f"{float(value):,.0f}"
    if unit == "unit_cost":
        return f"${float(value):,.6g}"
    return percent(value, signed=unit == "growth")


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def plain_text(text: str) -> str:
    """``text`` escaped for ``st.markdown``, so that resource ids and dollar signs show as typed.

    >>> print(plain_text("vol_1: about $212/month"))
    vol\\_1: about \\$212/month
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def owner_names(snap: queries.Snapshot) -> dict[str, str]:
    """``{owner id: display name}`` of the owners in ``owners.yaml`` with a budget."""
    budgets = queries.budgets(snap)
    return dict(zip(budgets["owner"], budgets["display_name"], strict=True))


def scorecard_period(value: date) -> str:
    """A billing period as people name it: ``November 2026``."""
    return f"{value:%B %Y}"
