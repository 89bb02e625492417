# ruff: noqa: E501
"""What the sample company buys: public prices and the product attributes AWS's price list gives
each product (processor, volume type, storage class, database engine), in one place.

Prices are us-east-1, Linux, on-demand. The attributes are spelled as AWS writes them in the
Cost and Usage Report (``product/physicalProcessor``, ``product/volumeApiName``, ...), which is
what AWS's Cloud Intelligence Dashboards KPI views read.

>>> physical_processor("c7g.4xlarge"), physical_processor("db.m5.xlarge")
('AWS Graviton3 Processor', 'Intel Xeon Platinum 8175')
>>> S3_TIERS["intelligent-tiering"][0].usage_type
'TimedStorage-INT-FA-ByteHrs'
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "EBS_VOLUME_TYPES",
    "EC2_CURRENT",
    "EC2_GRAVITON",
    "EC2_PREVIOUS",
    "EKS_NODE",
    "FLEET_RENAMES",
    "FLEET_VOLUMES",
    "LINUX",
    "PHYSICAL_PROCESSORS",
    "RDS",
    "RI_OFFERING_CLASS",
    "RI_RECURRING_HOURLY",
    "RI_UPFRONT_HOURLY",
    "S3_TIERS",
    "SPOT",
    "SP_DISCOUNT",
    "SP_OFFERING_TYPE",
    "RdsProduct",
    "S3Tier",
    "physical_processor",
]

# (instance type, on-demand $/h).
EC2_CURRENT = (
    ("m6i.2xlarge", "0.384"), ("c6i.4xlarge", "0.68"), ("m6i.4xlarge", "0.768"),
    ("c6i.8xlarge", "1.36"), ("m6i.8xlarge", "1.536"),
)  # fmt: skip
EC2_PREVIOUS = (("m4.4xlarge", "0.80"), ("c4.4xlarge", "0.796"), ("c4.8xlarge", "1.591"))
EC2_GRAVITON = (
    ("m7g.2xlarge", "0.3264"), ("c7g.4xlarge", "0.578"), ("m7g.4xlarge", "0.6528"),
    ("c7g.8xlarge", "1.1563"),
)  # fmt: skip
SPOT = (("c6i.8xlarge", "1.36", "0.5168"), ("m6i.8xlarge", "1.536", "0.5837"))
"""(instance type, on-demand $/h, Spot $/h)."""
EKS_NODE = ("m6i.2xlarge", "0.384")
LINUX = "Linux"
"""``product/operatingSystem`` of every instance the company runs."""


@dataclass(frozen=True)
class RdsProduct:
    """An RDS instance product: the engine's usage type, operation code and price."""

    usage_type: str
    operation: str
    """``CreateDBInstance:<code>``: the code names the engine and its license model."""
    rate: str
    database_engine: str
    """``product/databaseEngine``."""
    license_model: str
    """``product/licenseModel``."""


_NO_LICENSE = "No license required"
RDS: dict[str, RdsProduct] = {
    "rds-postgres": RdsProduct("Multi-AZUsage:db.r6g.2xlarge", "CreateDBInstance:0014", "1.808", "PostgreSQL", _NO_LICENSE),
    "rds-mysql": RdsProduct("InstanceUsage:db.r6g.xlarge", "CreateDBInstance:0002", "0.43", "MySQL", _NO_LICENSE),
    "rds-sqlserver": RdsProduct("InstanceUsage:db.m5.2xlarge", "CreateDBInstance:0012", "2.924", "SQL Server", "License included"),
    "rds-oracle": RdsProduct("InstanceUsage:db.m5.xlarge", "CreateDBInstance:0020", "1.088", "Oracle", "License included"),
}  # fmt: skip
"""RDS products by workload kind. Operation codes as AWS assigns them: 0014 PostgreSQL, 0002
MySQL, 0012 SQL Server Standard (license included), 0020 Oracle Standard Edition Two (license
included; 0005 would be Oracle Enterprise, bring your own license)."""

PHYSICAL_PROCESSORS: dict[str, str] = {
    # Previous-generation Intel
    "c3": "Intel Xeon E5-2680 v2 (Ivy Bridge)",
    "r3": "Intel Xeon E5-2670 v2 (Ivy Bridge)",
    "m4": "Intel Xeon E5-2676 v3 (Haswell)",
    "c4": "Intel Xeon E5-2666 v3 (Haswell)",
    "r4": "Intel Xeon E5-2686 v4 (Broadwell)",
    # Current-generation Intel
    "m5": "Intel Xeon Platinum 8175",
    "r5": "Intel Xeon Platinum 8175",
    "c5": "Intel Xeon Platinum 8124M",
    "m6i": "Intel Xeon 8375C (Ice Lake)",
    "c6i": "Intel Xeon 8375C (Ice Lake)",
    "r6i": "Intel Xeon 8375C (Ice Lake)",
    # AMD
    "m5a": "AMD EPYC 7571",
    "r5a": "AMD EPYC 7571",
    "c5a": "AMD EPYC 7R32",
    "m6a": "AMD EPYC 7R13 Processor",
    "c6a": "AMD EPYC 7R13 Processor",
    "r6a": "AMD EPYC 7R13 Processor",
    # AWS Graviton
    "m6g": "AWS Graviton2 Processor",
    "c6g": "AWS Graviton2 Processor",
    "c6gn": "AWS Graviton2 Processor",
    "r6g": "AWS Graviton2 Processor",
    "t4g": "AWS Graviton2 Processor",
    "m7g": "AWS Graviton3 Processor",
    "m7gd": "AWS Graviton3 Processor",
    "c7g": "AWS Graviton3 Processor",
    "r7g": "AWS Graviton3 Processor",
}
"""``product/physicalProcessor`` by instance family (EC2, and RDS without its ``db.``)."""


def physical_processor(instance_type: str) -> str:
    """The processor AWS's price list names for ``instance_type`` (EC2 or ``db.*``).

    >>> physical_processor("m6i.2xlarge")
    'Intel Xeon 8375C (Ice Lake)'
    """
    family = instance_type.removeprefix("db.").split(".", 1)[0]
    try:
        return PHYSICAL_PROCESSORS[family]
    except KeyError:
        raise ValueError(
            f"no processor for instance family {family!r}: add it to PHYSICAL_PROCESSORS"
        ) from None


FLEET_RENAMES: dict[str, dict[str, str]] = {
    "legacy": {
        "m6i.2xlarge": "m4.2xlarge", "c6i.4xlarge": "r3.2xlarge", "m6i.4xlarge": "c3.4xlarge",
        "c6i.8xlarge": "r3.4xlarge", "m6i.8xlarge": "c3.8xlarge",
    },
    "graviton": {
        "m6i.2xlarge": "r6g.2xlarge", "c6i.4xlarge": "c6gn.4xlarge", "m6i.4xlarge": "r6g.4xlarge",
        "c6i.8xlarge": "c6gn.8xlarge", "m6i.8xlarge": "r6g.8xlarge", "m4.4xlarge": "r7g.4xlarge",
        "c4.4xlarge": "m7gd.4xlarge", "c4.8xlarge": "r7g.8xlarge",
    },
    "amd": {
        "m6i.2xlarge": "m6a.2xlarge", "c6i.4xlarge": "m5a.4xlarge", "m6i.4xlarge": "m6a.4xlarge",
        "c6i.8xlarge": "m5a.8xlarge", "m6i.8xlarge": "m6a.8xlarge",
    },
}  # fmt: skip
"""Per EC2 fleet style (``company.Microservice.ec2_fleet``): the instance type each drawn on-demand
type is replaced by. A replaced instance keeps the drawn type's hourly rate, so the bill's amounts
do not depend on the style: each target is the previous-generation Intel, Graviton or AMD type
whose public price is closest (within 11 %) among those the company runs nowhere else, so that an
instance usage type still has one rate."""

FLEET_VOLUMES: dict[str, str] = {"legacy": "gp2", "graviton": "gp3"}
"""Per EC2 fleet style, the EBS volume type its instances' volumes get. The rate is kept too: such a
gp2 volume bills at gp3's $0.08 per GB-month, such a gp3 volume at gp2's $0.10."""

EBS_VOLUME_TYPES: dict[str, str] = {
    "standard": "Magnetic", "gp2": "General Purpose", "gp3": "General Purpose",
    "io1": "Provisioned IOPS", "io2": "Provisioned IOPS", "st1": "Throughput Optimized HDD",
    "sc1": "Cold HDD",
}  # fmt: skip
"""``product/volumeType`` by ``product/volumeApiName`` (``EBS:VolumeUsage`` alone is ``standard``)."""


@dataclass(frozen=True)
class S3Tier:
    """One S3 storage class a bucket's data sits in, and the share of its bytes there."""

    usage_type: str
    operation: str
    rate: str
    share: float
    storage_class: str
    """``product/storageClass`` (``General Purpose`` for S3 Standard)."""
    volume_type: str
    """``product/volumeType``: what AWS's KPI dashboard reads as the storage class."""
    label: str
    """The class as the line item description names it."""


S3_TIERS: dict[str, tuple[S3Tier, ...]] = {
    "lifecycle": (
        S3Tier("TimedStorage-ByteHrs", "StandardStorage", "0.023", 0.5, "General Purpose", "Standard", "Standard"),
        S3Tier("TimedStorage-SIA-ByteHrs", "StandardIAStorage", "0.0125", 0.3, "Infrequent Access", "Standard - Infrequent Access", "Standard-IA"),
        S3Tier("TimedStorage-GlacierByteHrs", "GlacierStorage", "0.0036", 0.2, "Archive", "Amazon Glacier", "Glacier"),
    ),
    "intelligent-tiering": (
        S3Tier("TimedStorage-INT-FA-ByteHrs", "IntelligentTieringFAStorage", "0.023", 0.5, "Intelligent-Tiering", "Intelligent-Tiering Frequent Access", "Intelligent-Tiering Frequent Access"),
        S3Tier("TimedStorage-INT-IA-ByteHrs", "IntelligentTieringIAStorage", "0.0125", 0.3, "Intelligent-Tiering", "Intelligent-Tiering Infrequent Access", "Intelligent-Tiering Infrequent Access"),
        S3Tier("TimedStorage-INT-AA-ByteHrs", "IntelligentTieringAAStorage", "0.0036", 0.2, "Intelligent-Tiering", "IntelligentTieringArchiveAccess", "Intelligent-Tiering Archive Access"),
    ),
}  # fmt: skip
"""Per S3 style (``company.Microservice.s3_classes``), a bucket's storage tiers. Lifecycle rules
move data from Standard to Standard-IA and Glacier Flexible Retrieval; Intelligent-Tiering's
Frequent, Infrequent and Archive Access tiers cost the same per GB-month, so a bucket costs the
same either way and only the storage class differs."""

SP_DISCOUNT = Decimal("0.72")
"""Savings Plan rate as a fraction of the on-demand rate (a 1-year no-upfront Compute SP)."""
SP_OFFERING_TYPE = "ComputeSavingsPlans"
"""``savingsPlan/OfferingType`` of the company's Savings Plan."""
RI_UPFRONT_HOURLY = Decimal("0.1130")
"""Amortized upfront per instance-hour of the m6i.2xlarge partial-upfront reservation."""
RI_RECURRING_HOURLY = Decimal("0.1100")
"""Recurring fee per instance-hour of that reservation."""
RI_OFFERING_CLASS = "standard"
"""``pricing/OfferingClass`` of the reservation (a Standard RI)."""
