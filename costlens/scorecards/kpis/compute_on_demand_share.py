"""Compute on-demand share: the share of compute usage (EC2, ECS, EKS, Lambda, Fargate) paid
on demand, the commitment opportunity.

As CID's ``compute_ondemand_cost / compute_all_cost`` (on-demand equivalent). Savings: 20 % of
the on-demand compute spend (buying a Savings Plan or reservation for it).

>>> KPI.name, KPI.direction, str(KPI.default_goal)
('compute_on_demand_share', 'lower', '0.30')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_COMPUTE = "instance_row AND commit_group = 'Compute'"
_ON_DEMAND = f"{_COMPUTE} AND {USAGE} AND purchase_option = 'OnDemand'"

KPI = Kpi(
    "compute_on_demand_share",
    "Compute on demand",
    "Share of compute usage (on-demand equivalent) paid on demand.",
    unit="share",
    direction="lower",
    default_goal=Decimal("0.30"),
    eligible=_COMPUTE,
    eligible_cost="adjusted",
    numerator=_ON_DEMAND,
    numerator_cost="adjusted",
    savings=f"CASE WHEN {_ON_DEMAND} THEN amortized * {rate('0.20')} END",
    assumption="A Savings Plan or reservation for steady usage saves about 20 %.",
    action="cover {n} {things} with a Savings Plan",
    things=("on-demand compute resource", "on-demand compute resources"),
    cid="kpi_instance_all.compute_ondemand_cost / compute_all_cost",
)
