"""SQL conditions several KPIs share (over a ``kpi_facts`` row, ``costlens.scorecards.facts``)."""

from __future__ import annotations

EC2 = "instance_row AND ec2_usage"
"""CID's "EC2 usage": EC2 usage of an instance (RunInstances with an instance type)."""

NOT_COMMITTED = "NOT spot AND NOT reserved AND commitment_offering_type NOT LIKE '%EC2%'"
"""Neither Spot, nor a reservation, nor an EC2 Instance Savings Plan: free to change family."""

USAGE = "line_item_type LIKE '%Usage%'"

EBS_VOLUME = (
    "service_code = 'AmazonEC2' AND line_item_type = 'Usage' AND volume_api_name <> ''"
    " AND usage_type NOT LIKE '%Snap%' AND usage_type LIKE '%EBS%'"
    " AND ((pricing_unit IN ('GB-Mo', 'GB-month') AND usage_type LIKE '%EBS:VolumeUsage%')"
    " OR (pricing_unit = 'IOPS-Mo' AND usage_type LIKE '%IOPS%')"
    " OR (pricing_unit = 'GiBps-mo' AND usage_type LIKE '%Throughput%'))"
)
"""An EBS volume's storage, provisioned IOPS or throughput (CID's ``kpi_ebs_storage_all``)."""


def rate(fraction: str) -> str:
    """An exact DECIMAL literal for a savings rate such as ``0.20`` (a constant of ours)."""
    return f"CAST({float(fraction)!r} AS DECIMAL(6,4))"
