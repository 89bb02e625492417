"""RI and Savings Plan coverage: the share of commitment-eligible usage covered by one.

The complement of CID's on-demand share over all its commitment groups (compute, RDS,
ElastiCache, OpenSearch, Redshift, DynamoDB, SageMaker), on-demand equivalent, leaving Spot out
(Spot is never committed). Savings: 20 % of the on-demand usage of those groups.

>>> KPI.name, str(KPI.default_goal)
('commitment_coverage', '0.70')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_ELIGIBLE = f"instance_row AND commit_group <> 'Other' AND {USAGE} AND NOT spot"
_ON_DEMAND = f"{_ELIGIBLE} AND purchase_option = 'OnDemand'"

KPI = Kpi(
    "commitment_coverage",
    "RI and Savings Plan coverage",
    "Share of commitment-eligible usage (on-demand equivalent) covered by an RI or SP.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.70"),
    eligible=_ELIGIBLE,
    eligible_cost="adjusted",
    numerator=f"{_ELIGIBLE} AND purchase_option IN ('Reserved', 'SavingsPlan')",
    numerator_cost="adjusted",
    savings=f"CASE WHEN {_ON_DEMAND} THEN amortized * {rate('0.20')} END",
    assumption="A reservation or Savings Plan for steady usage saves about 20 %.",
    action="cover {n} {things} with a reservation or Savings Plan",
    things=("on-demand resource", "on-demand resources"),
    cid="1 - on-demand share of kpi_instance_all's commitment groups (CUDOS's coverage)",
)
