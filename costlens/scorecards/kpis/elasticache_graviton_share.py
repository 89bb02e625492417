"""ElastiCache Graviton share: Graviton spend of the ElastiCache nodes that could run on it.

As CID's ``elasticache_graviton_cost / elasticache_graviton_eligible_cost`` (amortized).
Savings: 5 % of the node spend with a Graviton family.

>>> KPI.name, str(KPI.default_goal)
('elasticache_graviton_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_CACHE = "instance_row AND service_code = 'AmazonElastiCache'"

KPI = Kpi(
    "elasticache_graviton_share",
    "ElastiCache Graviton share",
    "Share of Graviton-eligible ElastiCache node spend running on Graviton.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=f"{_CACHE} AND ((adjusted_processor = 'Graviton' AND instance_type <> '')"
    " OR (line_item_type = 'Usage' AND latest_graviton <> ''))",
    numerator=f"{_CACHE} AND {USAGE} AND instance_processor = 'Graviton'",
    savings=f"CASE WHEN {_CACHE} AND {USAGE} AND adjusted_processor <> 'Graviton'"
    f" AND latest_graviton <> '' THEN amortized * {rate('0.05')} END",
    assumption="A Graviton cache node costs about 5 % less.",
    action="move {n} {things} to Graviton",
    things=("cache node", "cache nodes"),
    cid="kpi_instance_all.elasticache_graviton_cost / elasticache_graviton_eligible_cost",
)
