"""Unit cost: spend per unit of a business metric (orders, requests, ...), and its trend.

From the optional business-metrics CSV (``costlens.scorecards.metrics``): the month's amortized
spend of the owner or microservice over the sum of the metric's values in the month. The grade
reads the trend against the previous month (goal: no rise; F at +50 %).

>>> KPI.name, KPI.score(0.0), KPI.score(0.25)
('unit_cost', 1.0, 0.5)
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

KPI = Kpi(
    "unit_cost",
    "Unit cost",
    "Spend per unit of a business metric; graded on its change from the previous month.",
    unit="unit_cost",
    direction="lower",
    default_goal=Decimal("0"),
    group="governance",
    cid="costlens's own",
)
