"""Lambda Arm share: the share of Lambda compute spend on Arm (Graviton).

As CID's ``lambda_graviton_cost / lambda_graviton_eligible_cost`` (amortized; every Lambda
GB-second is eligible). Savings: 20 % of the x86 spend.

>>> KPI.name, str(KPI.default_goal)
('lambda_graviton_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_LAMBDA = f"instance_row AND service_code = 'AWSLambda' AND {USAGE}"

KPI = Kpi(
    "lambda_graviton_share",
    "Lambda Arm share",
    "Share of Lambda compute spend running on Arm (Graviton).",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=_LAMBDA,
    numerator=f"{_LAMBDA} AND usage_type LIKE '%ARM%'",
    savings=f"CASE WHEN {_LAMBDA} AND usage_type NOT LIKE '%ARM%'"
    f" THEN amortized * {rate('0.20')} END",
    assumption="Arm functions cost about 20 % less per GB-second.",
    action="move {n} {things} to Arm",
    things=("function", "functions"),
    cid="kpi_instance_all.lambda_graviton_cost / lambda_graviton_eligible_cost",
)
