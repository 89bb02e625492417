"""EC2 Graviton share: Graviton spend of the EC2 spend that could run on Graviton.

As CID's ``ec2_graviton_cost / ec2_graviton_eligible_cost`` (amortized): eligible is EC2 usage not
on Windows that is Graviton already, or flexible (on demand or on a Compute Savings Plan) with a
Graviton family to move to. Savings: 20 % of that flexible spend (10 % from an AMD family).

>>> KPI.name, str(KPI.default_goal)
('graviton_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import EC2, rate
from costlens.scorecards.model import Kpi

_CANDIDATE = (
    f"{EC2} AND NOT windows AND flexible AND adjusted_processor <> 'Graviton'"
    " AND latest_graviton <> ''"
)

KPI = Kpi(
    "graviton_share",
    "EC2 Graviton share",
    "Share of Graviton-eligible EC2 spend running on Graviton.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=f"{EC2} AND NOT windows AND (adjusted_processor = 'Graviton'"
    " OR (flexible AND latest_graviton <> ''))",
    numerator=f"{EC2} AND adjusted_processor = 'Graviton'",
    savings=f"CASE WHEN {_CANDIDATE} THEN amortized * CASE WHEN adjusted_processor = 'AMD'"
    f" THEN {rate('0.10')} ELSE {rate('0.20')} END END",
    assumption="A Graviton family costs about 20 % less than Intel, 10 % less than AMD.",
    action="move {n} {things} to Graviton",
    things=("instance", "instances"),
    cid="kpi_instance_all.ec2_graviton_cost / ec2_graviton_eligible_cost",
)
