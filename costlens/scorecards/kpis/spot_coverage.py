"""EC2 Spot coverage: the share of EC2 instance usage run on Spot.

Follows CID's ``ec2_spot_cost / ec2_usage_cost`` with one deliberate difference: both sides are
on-demand equivalents (CID divides Spot's on-demand equivalent by amortized cost, which passes
100 % for a fleet mostly on Spot). Savings: 55 % of the on-demand equivalent of EC2 usage that is
neither Spot nor committed (on demand or on a Compute Savings Plan).

>>> KPI.name, KPI.direction, str(KPI.default_goal)
('spot_coverage', 'higher', '0.10')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import EC2, NOT_COMMITTED, rate
from costlens.scorecards.model import Kpi

KPI = Kpi(
    "spot_coverage",
    "EC2 Spot coverage",
    "Share of EC2 instance usage (on-demand equivalent) run on Spot.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.10"),
    eligible=EC2,
    eligible_cost="adjusted",
    numerator=f"{EC2} AND spot",
    numerator_cost="adjusted",
    savings=f"CASE WHEN {EC2} AND {NOT_COMMITTED} THEN adjusted * {rate('0.55')} END",
    assumption="Spot costs about 55 % less than on demand for interruptible work.",
    action="run {n} {things} on Spot",
    things=("on-demand instance", "on-demand instances"),
    cid="kpi_instance_all.ec2_spot_cost / ec2_usage_cost; both on-demand equivalents here",
)
