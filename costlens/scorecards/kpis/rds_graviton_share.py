"""RDS Graviton share: Graviton spend of the RDS instance spend that could run on Graviton.

As CID's ``rds_graviton_cost / rds_graviton_eligible_cost`` (amortized; open-source engines only
can move). Savings: 10 % of on-demand open-source RDS spend with a Graviton family.

>>> KPI.name, str(KPI.default_goal)
('rds_graviton_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_RDS = f"instance_row AND service_code = 'AmazonRDS' AND {USAGE}"

KPI = Kpi(
    "rds_graviton_share",
    "RDS Graviton share",
    "Share of Graviton-eligible RDS instance spend running on Graviton.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=f"{_RDS} AND (adjusted_processor = 'Graviton' OR (line_item_type = 'Usage'"
    " AND instance_type <> '' AND oss_engine AND latest_graviton <> ''))",
    numerator=f"{_RDS} AND instance_type <> '' AND oss_engine AND adjusted_processor = 'Graviton'",
    savings=f"CASE WHEN {_RDS} AND adjusted_processor <> 'Graviton' AND latest_graviton <> ''"
    f" AND purchase_option = 'OnDemand' AND oss_engine THEN amortized * {rate('0.10')} END",
    assumption="A Graviton database instance costs about 10 % less.",
    action="move {n} {things} to Graviton",
    things=("database instance", "database instances"),
    cid="kpi_instance_all.rds_graviton_cost / rds_graviton_eligible_cost",
)
