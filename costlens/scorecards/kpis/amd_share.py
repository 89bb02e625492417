"""EC2 AMD share: AMD spend of the EC2 spend that could run on AMD (and is not Graviton).

As CID's ``ec2_amd_cost / ec2_amd_eligible_cost`` (amortized; the numerator reads the family
table's processor, as CID does). Savings: 10 % of flexible Intel spend with an AMD family.

>>> KPI.name, str(KPI.default_goal)
('amd_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import EC2, rate
from costlens.scorecards.model import Kpi

KPI = Kpi(
    "amd_share",
    "EC2 AMD share",
    "Share of AMD-eligible EC2 spend (not on Graviton) running on AMD.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=f"{EC2} AND adjusted_processor <> 'Graviton' AND (adjusted_processor = 'AMD'"
    " OR (flexible AND latest_amd <> ''))",
    numerator=f"{EC2} AND instance_processor = 'AMD'",
    savings=f"CASE WHEN {EC2} AND flexible AND adjusted_processor NOT IN ('Graviton', 'AMD')"
    f" AND latest_amd <> '' THEN amortized * {rate('0.10')} END",
    assumption="An AMD family costs about 10 % less than the Intel one.",
    action="move {n} {things} to AMD",
    things=("Intel instance", "Intel instances"),
    cid="kpi_instance_all.ec2_amd_cost / ec2_amd_eligible_cost",
)
