"""Budget adherence: the month's spend (projected to month end by its run rate) over budget.

Owners with a ``monthly_budget`` in ``owners.yaml`` only (amortized, as the budgets page).
Graded down past 100 %, to F at 150 %.

>>> KPI.name, KPI.score(0.9), KPI.score(1.25)
('budget_adherence', 1.0, 0.5)
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

KPI = Kpi(
    "budget_adherence",
    "Budget adherence",
    "Spend projected to month end, over the monthly budget.",
    unit="ratio",
    direction="lower",
    default_goal=Decimal("1.00"),
    group="governance",
    cid="costlens's own",
)
