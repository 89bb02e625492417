"""S3 Standard share: S3 Standard's share of the S3 storage spend.

As CID's ``s3_standard_storage_cost / s3_all_storage_cost`` (unblended; the class is the
product's volume type, ``line_items.storage_class``). Savings: 30 % of the Standard storage
(moving it to Intelligent-Tiering or an infrequent-access class).

>>> KPI.name, KPI.direction, str(KPI.default_goal)
('s3_standard_share', 'lower', '0.65')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import rate
from costlens.scorecards.model import Kpi

_STORAGE = (
    "resource_id <> '' AND line_item_type LIKE '%Usage%'"
    " AND (service_code LIKE '%AmazonS3%' OR service_code LIKE '%AmazonGlacier%')"
    " AND pricing_unit = 'GB-Mo' AND operation LIKE '%Storage%'"
)
_STANDARD = f"{_STORAGE} AND storage_class = 'Standard'"

KPI = Kpi(
    "s3_standard_share",
    "S3 Standard share",
    "Share of S3 storage spend in the Standard class.",
    unit="share",
    direction="lower",
    default_goal=Decimal("0.65"),
    eligible=_STORAGE,
    eligible_cost="unblended",
    numerator=_STANDARD,
    numerator_cost="unblended",
    savings=f"CASE WHEN {_STANDARD} THEN unblended * {rate('0.30')} END",
    assumption="Intelligent-Tiering or an infrequent-access class saves about 30 % of Standard.",
    action="move {n} {things} to Intelligent-Tiering",
    things=("bucket in S3 Standard", "buckets in S3 Standard"),
    cid="kpi_s3_storage_all: s3_standard_storage_cost / s3_all_storage_cost",
)
