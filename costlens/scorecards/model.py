"""What a KPI is, and how a value against its goal becomes a score and a grade.

A ``Kpi`` declares its name, unit, direction and default goal, and, for the efficiency KPIs of
AWS's KPI dashboard, three SQL pieces over a row of ``kpi_facts`` (``costlens.scorecards.facts``):
which rows are eligible and at which cost, which of them count towards the value, and the
potential monthly savings of a row with the assumption behind it in words.

Score and grade (docs/scorecards.md, "Grades"): a share KPI's score is how far it got towards its
goal, ``value / goal`` when higher is better, ``(1 - value) / (1 - goal)`` when lower is better,
at most 1. Growth-like KPIs (cost growth, budget use, unit cost trend) lose score linearly past
their goal over ``tolerance``; a count (open anomalies) loses 0.2 a count. Grades: A at 0.9 and
above, B 0.75, C 0.6, D 0.4, else F.

>>> share = Kpi("gp3", "t", "d", unit="share", direction="higher", default_goal=Decimal("0.5"))
>>> share.score(0.25), grade(share.score(0.25))
(0.5, 'D')
>>> lower = Kpi("prev", "t", "d", unit="share", direction="lower", default_goal=Decimal("0.1"))
>>> round(lower.score(0.55), 2), grade(lower.score(0.05))
(0.5, 'A')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["GRADES", "Kpi", "Scope", "grade", "grade_points"]

Scope = Literal["owner", "microservice", "account"]

GRADES: tuple[tuple[float, str], ...] = ((0.9, "A"), (0.75, "B"), (0.6, "C"), (0.4, "D"))
"""Lowest score of each grade; below the last, F."""


def grade(score: float | None) -> str | None:
    """The letter of ``score`` (None: n/a)."""
    if score is None:
        return None
    return next((letter for floor, letter in GRADES if score >= floor - 1e-12), "F")


def grade_points(letter: str | None) -> int | None:
    """A=4 ... F=0, to compare two grades (None: n/a)."""
    return None if letter is None else "FDCBA".index(letter)


@dataclass(frozen=True)
class Kpi:
    """One KPI of the registry (``costlens.scorecards.KPIS``)."""

    name: str
    """The name in ``owners.yaml``'s ``kpi_goals``, the CLI's JSON and the snapshot."""
    title: str
    description: str
    unit: Literal["share", "growth", "ratio", "count", "unit_cost"]
    direction: Literal["higher", "lower"]
    default_goal: Decimal
    group: Literal["efficiency", "governance"] = "efficiency"
    """Efficiency KPIs have savings and make the overall grade; governance KPIs are graded
    alone (tagging, growth, budget, anomalies, unit cost)."""
    eligible: str = ""
    """SQL condition on a ``kpi_facts`` row: the row's ``eligible_cost`` is eligible spend."""
    eligible_cost: str = "amortized"
    numerator: str = ""
    """SQL condition: the row's ``numerator_cost`` counts towards the value."""
    numerator_cost: str = "amortized"
    savings: str = ""
    """SQL DECIMAL expression: a row's potential monthly savings (NULL or 0: none)."""
    assumption: str = ""
    """The savings formula's assumption in words."""
    action: str = ""
    """What to do, as a verb phrase with ``{n}`` and ``{things}``: ``move {n} {things} to gp3``."""
    things: tuple[str, str] = ("resource", "resources")
    """What the resources are called, singular and plural."""
    cid: str = ""
    """The CID field or view it follows, and any deliberate difference."""
    dated: bool = False
    """Its numerator and savings read ``snapshot_first_seen`` (a resource's first use in any
    period), so they are summed when scorecards are computed, not stored per period."""
    pooled: bool = False
    """Its value pools over the commitments a scope pays for, whoever used them (RI and Savings
    Plan utilization): summed when scorecards are computed."""
    tolerance: float = 0.5
    """Growth-like KPIs: how far past the goal the score reaches 0."""

    def score(self, value: float | None, goal: Decimal | None = None) -> float | None:
        """How close ``value`` is to ``goal`` (default: the default goal), in [0, 1]."""
        if value is None:
            return None
        target = float(self.default_goal if goal is None else goal)
        if self.unit == "share":
            if self.direction == "higher":
                return 1.0 if target <= 0 else max(0.0, min(1.0, value / target))
            return 1.0 if target >= 1 else max(0.0, min(1.0, (1 - value) / (1 - target)))
        if self.unit == "count":
            return max(0.0, 1.0 - 0.2 * max(0.0, value - target))
        over = value - target if self.direction == "lower" else target - value
        return max(0.0, min(1.0, 1.0 - max(0.0, over) / self.tolerance))

    def at_goal(self, value: float | None, goal: Decimal) -> bool:
        """Whether ``value`` meets ``goal``."""
        if value is None:
            return True
        return value >= float(goal) if self.direction == "higher" else value <= float(goal)
