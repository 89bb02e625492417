"""Cost growth: the month's daily run rate against the previous month's, minus 1.

A month in progress is compared by its days so far (amortized). n/a without a previous month.
Graded down past the goal, to F at 50 points above it.

>>> KPI.name, KPI.score(0.05), KPI.score(0.30)
('cost_growth', 1.0, 0.5)
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

KPI = Kpi(
    "cost_growth",
    "Cost growth",
    "Daily run rate against the previous month's, minus 1.",
    unit="growth",
    direction="lower",
    default_goal=Decimal("0.05"),
    group="governance",
    cid="costlens's own",
)
