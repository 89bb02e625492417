"""RI and Savings Plan utilization: the share of the commitment bought that usage used.

Used: the amortized cost of the usage reservations and Savings Plans covered; unused: the
amortized cost of their fees (the unused part of the commitment, DESIGN.md "amortized cost").
Utilization = used / (used + unused), as CUDOS's ``RI_SP Usage Cost / RI_SP Total Cost``. Unused
commitment is paid for already, so it has no savings here: the action is to use it.

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
    cid="CUDOS summary_view: RI_SP Usage Cost / RI_SP Total Cost",
)
