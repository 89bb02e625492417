"""RI and Savings Plan utilization: the share of the commitments a scope pays for that usage used.

Per commitment (``commitment_discount_id``) and month: used is the amortized cost of the usage
it covered, whoever ran it; unused the amortized cost of its fees (the unused part, DESIGN.md
"amortized cost"); utilization = used / (used + unused), as CUDOS's ``RI_SP Usage Cost / RI_SP
Total Cost``. A scope's value pools the commitments whose fees it carries, each weighted by its
share of the commitment's fee (unblended); eligible spend is the fees it carries. An owner whose
usage a commitment covers but who pays no fee reads n/a: utilization belongs to the payer.
Unused commitment is paid for already, so it has no savings here: the action is to use it.

>>> KPI.name, str(KPI.default_goal)
('commitment_utilization', '0.95')
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

_USED = "line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage')"

KPI = Kpi(
    "commitment_utilization",
    "RI and Savings Plan utilization",
    "Share of the reservations' and Savings Plans' commitment that usage used.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.95"),
    eligible=f"{_USED} OR line_item_type IN ('RIFee', 'SavingsPlanRecurringFee')",
    numerator=_USED,
    assumption="Unused commitment is already paid: no savings, only waste to use up.",
    cid="CUDOS summary_view: RI_SP Usage Cost / RI_SP Total Cost, per commitment",
    pooled=True,
)
