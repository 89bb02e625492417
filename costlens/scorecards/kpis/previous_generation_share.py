"""EC2 previous generation: the share of EC2 instance spend on previous-generation families.

As CID's ``ec2_previous_generation_cost / ec2_usage_cost`` (amortized); the generation comes from
CID's instance-family table (``costlens/scorecards/data/instance_families.csv``). Savings: 5 % of
the previous-generation spend that is free to move (not Spot, not reserved, not on an EC2
Instance Savings Plan).

>>> KPI.name, KPI.direction, str(KPI.default_goal)
('previous_generation_share', 'lower', '0.10')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import EC2, NOT_COMMITTED, rate
from costlens.scorecards.model import Kpi

_PREVIOUS = f"{EC2} AND generation = 'Previous' AND {NOT_COMMITTED}"

KPI = Kpi(
    "previous_generation_share",
    "EC2 previous generation",
    "Share of EC2 instance spend on previous-generation instance families.",
    unit="share",
    direction="lower",
    default_goal=Decimal("0.10"),
    eligible=EC2,
    numerator=_PREVIOUS,
    savings=f"CASE WHEN {_PREVIOUS} THEN amortized * {rate('0.05')} END",
    assumption="A current-generation family gives the same capacity for about 5 % less.",
    action="move {n} {things} to a current generation",
    things=("previous-generation instance", "previous-generation instances"),
    cid="kpi_instance_all.ec2_previous_generation_cost / ec2_usage_cost",
)
