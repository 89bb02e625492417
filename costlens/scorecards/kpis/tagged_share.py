"""Tagged share: the share of spend attributed by a tag, not by a fallback rule or left over.

Cost-weighted over the charges (positive amounts), from each allocation's ``basis``: ``tag`` (a
rule read a tag), ``rule`` (account, service, ... rules), ``split`` (a shared-cost split) or
``unallocated``. Tagging is what lets a cost follow the workload; no savings.

>>> KPI.name, KPI.group
('tagged_share', 'governance')
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

KPI = Kpi(
    "tagged_share",
    "Tagged share",
    "Share of the charges attributed by a tag (not by a fallback rule, or unallocated).",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.90"),
    group="governance",
    eligible="amortized > 0 AND basis <> 'split'",
    numerator="amortized > 0 AND basis = 'tag'",
    cid="costlens's own",
)
