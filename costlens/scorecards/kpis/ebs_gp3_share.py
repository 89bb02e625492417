"""EBS gp3 share: gp3's share of the gp2 + gp3 volume spend (storage, IOPS and throughput).

As CID's ``1 - ebs_gp2_cost / ebs_gp_all_cost`` (unblended, as CID's EBS view). Savings, per gp2
volume, CID's estimate: gp3 storage is 20 % cheaper, but a volume above 150 GB needs 125 MB/s of
throughput added (at half a gp3 GB-month each) and any IOPS above gp3's baseline of 3,000 that
gp2 gave it (3 per GB, up to 16,000) cost 6 % of a gp3 GB-month each::

    savings = gp2 cost - storage x 0.8 x (1 + (0.5 x added MB/s + 0.06 x added IOPS) / GB-months)

A volume for which gp3 would cost more (about 150-210 GB) saves nothing: it is not an action.

>>> KPI.name, str(KPI.default_goal)
('ebs_gp3_share', '0.50')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import EBS_VOLUME
from costlens.scorecards.model import Kpi

_STORAGE = "usage_type LIKE '%EBS:VolumeUsage%' AND usage > 0"
_THROUGHPUT = "CASE WHEN usage > 150 THEN 125 ELSE 0 END"
_IOPS = "LEAST(GREATEST(usage * 3, 3000), 16000) - 3000"
_FACTOR = f"1 - 0.8 * (1 + (0.5 * {_THROUGHPUT} + 0.06 * ({_IOPS})) / usage)"

KPI = Kpi(
    "ebs_gp3_share",
    "EBS gp3 share",
    "Share of gp2 and gp3 volume spend on gp3.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.50"),
    eligible=f"{EBS_VOLUME} AND volume_api_name IN ('gp2', 'gp3')",
    eligible_cost="unblended",
    numerator=f"{EBS_VOLUME} AND volume_api_name = 'gp3'",
    numerator_cost="unblended",
    savings=f"CASE WHEN {EBS_VOLUME} AND volume_api_name = 'gp2' AND {_STORAGE}"
    f" THEN unblended * CAST({_FACTOR} AS DECIMAL(18,10)) END",
    assumption="gp3 storage is 20 % cheaper; throughput above 125 MB/s and IOPS above 3,000 "
    "that the gp2 volume had are added at gp3's prices (CID's estimate).",
    action="move {n} {things} to gp3",
    things=("gp2 volume", "gp2 volumes"),
    cid="kpi_ebs_storage_all: 1 - ebs_gp2_cost / (ebs_gp2_cost + ebs_gp3_cost)",
)
