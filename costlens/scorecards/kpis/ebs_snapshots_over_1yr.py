"""EBS snapshots over a year old: their share of the snapshot spend.

As CID's ``ebs_snapshots_over_1yr_cost / ebs_snapshot_cost`` (unblended): a snapshot's age is
from its first usage anywhere in the data, so a warehouse holding less than a year reads 0 %.
Savings: the whole cost of those snapshots (deleting or archiving them).

>>> KPI.name, KPI.direction, str(KPI.default_goal)
('ebs_snapshots_over_1yr', 'lower', '0.25')
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

_SNAPSHOT = "snapshot_line"
"""EC2 usage of an EBS snapshot (not archived) with its id (``kpi_facts``)."""
_OLD = f"{_SNAPSHOT} AND snapshot_first_seen <= billing_period - INTERVAL 12 MONTH"

KPI = Kpi(
    "ebs_snapshots_over_1yr",
    "EBS snapshots over 1 year",
    "Share of EBS snapshot spend on snapshots first seen over a year before the month.",
    unit="share",
    direction="lower",
    default_goal=Decimal("0.25"),
    eligible=_SNAPSHOT,
    eligible_cost="unblended",
    numerator=_OLD,
    numerator_cost="unblended",
    savings=f"CASE WHEN {_OLD} THEN unblended END",
    assumption="A snapshot kept over a year is rarely restored: deleting it saves its cost.",
    action="delete or archive {n} {things}",
    things=("snapshot over a year old", "snapshots over a year old"),
    cid="kpi_ebs_snap: ebs_snapshots_over_1yr_cost / ebs_snapshot_cost",
    dated=True,
)
