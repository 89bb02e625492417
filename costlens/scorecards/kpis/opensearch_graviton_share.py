"""OpenSearch Graviton share: Graviton spend of the OpenSearch nodes that could run on it.

As CID's ``opensearch_graviton_cost / opensearch_graviton_eligible_cost`` (amortized).
Savings: 5 % of the node spend with a Graviton family.

>>> KPI.name, str(KPI.default_goal)
('opensearch_graviton_share', '0.20')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_SEARCH = "instance_row AND service_code = 'AmazonES'"

KPI = Kpi(
    "opensearch_graviton_share",
    "OpenSearch Graviton share",
    "Share of Graviton-eligible OpenSearch node spend running on Graviton.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.20"),
    eligible=f"{_SEARCH} AND ((adjusted_processor = 'Graviton' AND instance_type <> '')"
    " OR (line_item_type = 'Usage' AND latest_graviton <> ''))",
    numerator=f"{_SEARCH} AND {USAGE} AND adjusted_processor = 'Graviton'",
    savings=f"CASE WHEN {_SEARCH} AND line_item_type = 'Usage' AND latest_graviton <> ''"
    f" AND adjusted_processor <> 'Graviton' THEN amortized * {rate('0.05')} END",
    assumption="A Graviton search node costs about 5 % less.",
    action="move {n} {things} to Graviton",
    things=("search node", "search nodes"),
    cid="kpi_instance_all.opensearch_graviton_cost / opensearch_graviton_eligible_cost",
)
