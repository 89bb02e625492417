"""A meter's product: the fleet style that renames it, and the attributes AWS's price list gives
it (``product/physicalProcessor``, ``product/volumeApiName``, ``product/storageClass``, ...).

Both run on the finished meter list, after the random draws and every cost-based choice (untagged
resources, Savings Plan coverage): a style renames an instance or volume but keeps its rate, and
an attribute is a function of the product, so neither moves an amount.

>>> from decimal import Decimal
>>> from costlens.sample.meters import Meter
>>> m = Meter(0, "a", "t", "1", "n", "us-east-1", "AmazonEC2", "EC2", "Storage",
...           "EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "vol-1", "", "GB-Mo", Decimal("0.08"),
...           Decimal("0.08"), "OnDemand", "storage", 100.0, "")
>>> describe_product(m)
>>> m.volume_api_name, m.volume_type
('gp3', 'General Purpose')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from costlens.sample import catalog as cat
from costlens.sample import company as co
from costlens.sample.workloads import REGION_PREFIX

if TYPE_CHECKING:
    from costlens.sample.meters import Meter

__all__ = ["apply_fleet_styles", "describe_product"]

_S3_TIERS = {t.usage_type: t for tiers in cat.S3_TIERS.values() for t in tiers}
_RDS_BY_OPERATION = {p.operation: p for p in cat.RDS.values()}


def _split(usage_type: str) -> tuple[str, str]:
    """(region prefix, usage type without it): ``USW2-BoxUsage:m6i.2xlarge`` → ``USW2-``, ..."""
    for px in REGION_PREFIX.values():
        if px and usage_type.startswith(px):
            return px, usage_type[len(px) :]
    return "", usage_type


def apply_fleet_styles(meters: Iterable[Meter]) -> None:
    """Rename the on-demand EC2 instances (and their volumes) of microservices whose
    ``ec2_fleet`` is not ``mixed``, after ``catalog.FLEET_RENAMES`` and ``FLEET_VOLUMES``."""
    styles = {ms.name: ms.ec2_fleet for ms in (*co.MICROSERVICES, co.NEW_MICROSERVICE_SPEC)}
    for m in meters:
        style = styles.get(m.microservice, "mixed")
        if style == "mixed" or m.service_code != "AmazonEC2" or m.purchase_option != "OnDemand":
            continue
        px, bare = _split(m.usage_type)
        new_type = cat.FLEET_RENAMES[style].get(m.instance_type, "")
        if bare.startswith("BoxUsage:") and new_type:
            m.description = m.description.replace(m.instance_type, new_type)
            m.usage_type = f"{px}BoxUsage:{new_type}"
            m.instance_type = new_type
        volume = cat.FLEET_VOLUMES.get(style, "")
        if bare.startswith("EBS:VolumeUsage.") and volume:
            old = bare.removeprefix("EBS:VolumeUsage.")
            m.description = m.description.replace(f" {old} ", f" {volume} ")
            m.usage_type = f"{px}EBS:VolumeUsage.{volume}"
            m.operation = "CreateVolume-Gp" + volume[-1]


def describe_product(m: Meter) -> None:
    """Set the product attributes of ``m`` from its service, usage type and instance type
    (``''`` where the product has no such attribute)."""
    bare = _split(m.usage_type)[1]
    if m.service_code == "AmazonEC2" and m.product_family == "Compute Instance":
        m.operating_system = cat.LINUX
        m.physical_processor = cat.physical_processor(m.instance_type)
    elif m.service_code == "AmazonEC2" and bare.startswith("EBS:Volume"):
        # EBS:VolumeUsage.gp2, EBS:VolumeP-IOPS.gp3, ...; EBS:VolumeUsage alone is magnetic.
        api = bare.rpartition(".")[2] if "." in bare else "standard"
        m.volume_api_name = api
        m.volume_type = cat.EBS_VOLUME_TYPES[api]
    elif m.service_code == "AmazonS3" and bare in _S3_TIERS:
        tier = _S3_TIERS[bare]
        m.storage_class = tier.storage_class
        m.volume_type = tier.volume_type
    elif m.service_code == "AmazonRDS" and m.product_family == "Database Instance":
        rds = _RDS_BY_OPERATION[m.operation]
        m.database_engine = rds.database_engine
        m.license_model = rds.license_model
        m.physical_processor = cat.physical_processor(m.instance_type)
