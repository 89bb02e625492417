# ruff: noqa: E501
"""What each workload kind bills: the meters one resource of a microservice adds, and the shared
meters (EKS cluster and nodes, NAT gateways, data transfer) nobody's tags claim.

The random draws (instance types, sizes, resource ids) come from the builder's seeded generator
in a fixed order; the bill of a seed depends on that order, so a change here moves every figure
after it. Styles that only rename a product (``costlens.sample.products``) are applied afterwards.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from costlens.sample import catalog as cat
from costlens.sample import company as co

if TYPE_CHECKING:
    from costlens.sample.meters import _Builder

__all__ = ["ACCOUNT_REGION", "REGION_PREFIX", "add_shared", "add_workload"]

REGION_PREFIX = {"us-east-1": "", "us-west-2": "USW2-"}
"""Usage type prefix per region."""
ACCOUNT_REGION = {"northwind-data": "us-west-2"}
"""Accounts that run outside us-east-1."""


def _dec(text: str) -> Decimal:
    return Decimal(text)


def add_workload(b: _Builder, ms: co.Microservice, acct: co.Account, kind: str, tags: dict[str, str],
                 life: tuple[datetime, datetime]) -> None:  # fmt: skip
    """Add the meters of one ``kind`` resource of ``ms`` in ``acct``."""
    region = ACCOUNT_REGION.get(acct.name, "us-east-1")
    px = REGION_PREFIX[region]
    common = {
        "microservice": ms.name, "owner": ms.owner, "account_id": acct.account_id,
        "account_name": acct.name, "region": region, "tags": tags,
        "active_from": life[0], "active_to": life[1],
    }  # fmt: skip
    rng = b.rng

    def ec2(types: tuple[tuple[str, str], ...], volume: str) -> None:
        itype, rate = rng.choice(types)
        b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="Compute Instance", usage_type=f"{px}BoxUsage:{itype}",
              operation="RunInstances", resource_id=b._rid("i", acct.account_id, region),
              instance_type=itype, pricing_unit="Hrs", list_rate=_dec(rate), rate=_dec(rate),
              purchase_option="OnDemand", profile="const", base_amount=1.0,
              description=f"${rate} per On Demand Linux {itype} Instance Hour")  # fmt: skip
        gb = rng.choice((100, 200, 500, 1000))
        vrate = "0.10" if volume == "gp2" else "0.08"
        b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="Storage", usage_type=f"{px}EBS:VolumeUsage.{volume}",
              operation="CreateVolume-Gp" + volume[-1], resource_id=b._rid("vol", acct.account_id, region),
              instance_type="", pricing_unit="GB-Mo", list_rate=_dec(vrate), rate=_dec(vrate),
              purchase_option="OnDemand", profile="storage", base_amount=float(gb),
              description=f"${vrate} per GB-month of {volume} provisioned storage")  # fmt: skip

    def variable(code: str, name: str, family: str, utype: str, op: str, rid: str, unit: str,
                 rate: str, base: float, desc: str, profile: str = "variable") -> None:  # fmt: skip
        b.add(**common, service_code=code, service_name=name, product_family=family,
              usage_type=utype, operation=op, resource_id=rid, instance_type="", pricing_unit=unit,
              list_rate=_dec(rate), rate=_dec(rate), purchase_option="OnDemand", profile=profile,
              base_amount=base, description=desc)  # fmt: skip

    match kind:
        case "ec2":
            old = rng.random() < 0.3
            ec2(
                cat.EC2_PREVIOUS if old else cat.EC2_CURRENT,
                "gp2" if old or rng.random() < 0.4 else "gp3",
            )
        case "ec2-graviton":
            ec2(cat.EC2_GRAVITON, "gp3")
        case "ec2-spot":
            itype, od, spot = rng.choice(cat.SPOT)
            b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
                  product_family="Compute Instance", usage_type=f"{px}SpotUsage:{itype}",
                  operation="RunInstances:SV001", resource_id=b._rid("i", acct.account_id, region),
                  instance_type=itype, pricing_unit="Hrs", list_rate=_dec(od), rate=_dec(spot),
                  purchase_option="Spot", profile="batch", base_amount=1.0,
                  description=f"${spot} per Linux/UNIX (Amazon VPC), {itype} Spot Instance-hour")  # fmt: skip
        case "eks":
            pass  # pods on the shared cluster: billed on its nodes (see add_shared)
        case "rds-postgres" | "rds-mysql" | "rds-sqlserver" | "rds-oracle":
            rds = cat.RDS[kind]
            utype, op, rate, engine = rds.usage_type, rds.operation, rds.rate, rds.database_engine
            rid = b._rid("db", acct.account_id, region)
            itype = utype.split(":")[1]
            b.add(**common, service_code="AmazonRDS", service_name="Amazon Relational Database Service",
                  product_family="Database Instance", usage_type=f"{px}{utype}", operation=op,
                  resource_id=rid, instance_type=itype, pricing_unit="Hrs", list_rate=_dec(rate),
                  rate=_dec(rate), purchase_option="OnDemand", profile="const", base_amount=1.0,
                  description=f"${rate} per {engine} {itype} instance hour (or partial hour)")  # fmt: skip
            variable("AmazonRDS", "Amazon Relational Database Service", "Database Storage",
                     f"{px}RDS:GP3-Storage", op, rid, "GB-Mo", "0.115", float(rng.choice((200, 500, 1000))),
                     "$0.115 per GB-month of provisioned GP3 storage", "storage")  # fmt: skip
        case "lambda":
            rid = b._rid("fn", acct.account_id, region)
            req = float(rng.choice((40_000, 150_000, 600_000)))
            variable("AWSLambda", "AWS Lambda", "Serverless", f"{px}Request", "Invoke", rid,
                     "Requests", "0.0000002", req, "AWS Lambda - Total Requests")  # fmt: skip
            variable("AWSLambda", "AWS Lambda", "Serverless", f"{px}Lambda-GB-Second", "Invoke",
                     rid, "Lambda-GB-Second", "0.0000166667", req * 0.4,
                     "AWS Lambda - Total Compute")  # fmt: skip
        case "dynamodb":
            rid = b._rid("table", acct.account_id, region)
            base = float(rng.choice((400_000, 1_600_000, 6_000_000)))
            variable("AmazonDynamoDB", "Amazon DynamoDB", "Amazon DynamoDB PayPerRequest Throughput",
                     f"{px}ReadRequestUnits", "PayPerRequestThroughput", rid, "ReadRequestUnits",
                     "0.00000025", base, "$0.25 per million read request units")  # fmt: skip
            variable("AmazonDynamoDB", "Amazon DynamoDB", "Amazon DynamoDB PayPerRequest Throughput",
                     f"{px}WriteRequestUnits", "PayPerRequestThroughput", rid, "WriteRequestUnits",
                     "0.00000125", base / 4, "$1.25 per million write request units")  # fmt: skip
            variable("AmazonDynamoDB", "Amazon DynamoDB", "Database Storage",
                     f"{px}TimedStorage-ByteHrs", "StandardStorage", rid, "GB-Mo", "0.25",
                     base / 10_000, "$0.25 per GB-Month of storage used", "storage")  # fmt: skip
        case "s3":
            rid = b._rid("bucket", acct.account_id, region)
            tb = float(rng.choice((3_000, 12_000, 50_000)))
            for tier in cat.S3_TIERS[ms.s3_classes]:
                variable("AmazonS3", "Amazon Simple Storage Service", "Storage", f"{px}{tier.usage_type}",
                         tier.operation, rid, "GB-Mo", tier.rate, tb * tier.share,
                         f"${tier.rate} per GB-Month of {tier.label} storage", "storage")  # fmt: skip
            variable("AmazonS3", "Amazon Simple Storage Service", "API Request", f"{px}Requests-Tier1",
                     "PutObject", rid, "Requests", "0.000005", tb * 5,
                     "$0.005 per 1,000 PUT, COPY, POST, or LIST requests")  # fmt: skip
        case "cloudfront":
            rid = b._rid("dist", acct.account_id, region)
            gb = float(rng.choice((3, 8, 20)))
            b.add(**{**common, "region": ""}, service_code="AmazonCloudFront",
                  service_name="Amazon CloudFront", product_family="Data Transfer",
                  usage_type="US-DataTransfer-Out-Bytes", operation="GET", resource_id=rid,
                  instance_type="", pricing_unit="GB", list_rate=_dec("0.085"), rate=_dec("0.085"),
                  purchase_option="OnDemand", profile="variable", base_amount=gb,
                  description="$0.085 per GB - first 10 TB / month data transfer out (US)")  # fmt: skip
            b.add(**{**common, "region": ""}, service_code="AmazonCloudFront",
                  service_name="Amazon CloudFront", product_family="Request",
                  usage_type="US-Requests-Tier2-HTTPS", operation="GET", resource_id=rid,
                  instance_type="", pricing_unit="Requests", list_rate=_dec("0.000001"),
                  rate=_dec("0.000001"), purchase_option="OnDemand", profile="variable",
                  base_amount=gb * 20_000, description="$0.010 per 10,000 HTTPS requests (US)")  # fmt: skip
        case "snapshots":
            variable("AmazonEC2", "Amazon Elastic Compute Cloud", "Storage Snapshot",
                     f"{px}EBS:SnapshotUsage", "CreateSnapshot", b._rid("snap", acct.account_id, region),
                     "GB-Mo", "0.05", float(rng.choice((300, 1500, 5000))),
                     "$0.05 per GB-Month of snapshot data stored", "storage")  # fmt: skip
        case _:
            raise ValueError(kind)


def add_shared(b: _Builder, scale: float, nodes: int) -> None:
    """Add the shared meters: the EKS cluster and its ``nodes`` (all but one reserved), the NAT
    gateways of shared-services, data transfer in prod and data."""
    prod, shared = co.account("northwind-prod"), co.account("northwind-shared-services")
    common = {"microservice": "", "owner": "", "account_id": prod.account_id,
              "account_name": prod.name, "region": "us-east-1"}  # fmt: skip
    cluster = b._rid("eks", prod.account_id, "us-east-1")
    b.add(**common, service_code="AmazonEKS", service_name="Amazon Elastic Container Service for Kubernetes",
          product_family="Compute", usage_type="AmazonEKS-Hours:perCluster", operation="CreateOperation",
          resource_id=cluster, instance_type="", pricing_unit="Hours", list_rate=_dec("0.10"),
          rate=_dec("0.10"), purchase_option="OnDemand", profile="const", base_amount=1.0,
          description="Amazon EKS cluster usage", tags={"team": "platform", "eks:cluster-name": co.SHARED_EKS_CLUSTER})  # fmt: skip
    itype, rate = cat.EKS_NODE
    for i in range(nodes):
        b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="Compute Instance", usage_type=f"BoxUsage:{itype}",
              operation="RunInstances", resource_id=b._rid("i", prod.account_id, "us-east-1"),
              instance_type=itype, pricing_unit="Hrs", list_rate=_dec(rate), rate=_dec(rate),
              purchase_option="OnDemand", profile="const", base_amount=1.0,
              description=f"${rate} per On Demand Linux {itype} Instance Hour",
              tags={"team": "platform", "eks:cluster-name": co.SHARED_EKS_CLUSTER},
              ri_covered=i < nodes - 1)  # fmt: skip
    nats = max(1, round(2 * math.sqrt(scale)))
    for _ in range(nats):
        nat = b._rid("nat", shared.account_id, "us-east-1")
        c2 = {**common, "account_id": shared.account_id, "account_name": shared.name}
        b.add(**c2, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="NAT Gateway", usage_type="NatGateway-Hours", operation="NatGateway",
              resource_id=nat, instance_type="", pricing_unit="Hrs", list_rate=_dec("0.045"),
              rate=_dec("0.045"), purchase_option="OnDemand", profile="const", base_amount=1.0,
              description="$0.045 per NAT Gateway Hour")  # fmt: skip
        b.add(**c2, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="NAT Gateway", usage_type="NatGateway-Bytes", operation="NatGateway",
              resource_id=nat, instance_type="", pricing_unit="GB", list_rate=_dec("0.045"),
              rate=_dec("0.045"), purchase_option="OnDemand", profile="variable",
              base_amount=60.0 * scale / nats + 2, description="$0.045 per GB Data Processed by NAT Gateways")  # fmt: skip
    for acct in (prod, co.account("northwind-data")):
        region = ACCOUNT_REGION.get(acct.name, "us-east-1")
        px = REGION_PREFIX[region]
        c3 = {**common, "account_id": acct.account_id, "account_name": acct.name, "region": region}
        for utype, rate, base, desc in (
            ("DataTransfer-Regional-Bytes", "0.01", 120.0, "$0.010 per GB - regional data transfer"),
            ("DataTransfer-Out-Bytes", "0.09", 35.0, "$0.090 per GB - first 10 TB / month data transfer out"),
        ):  # fmt: skip
            b.add(**c3, service_code="AWSDataTransfer", service_name="AWS Data Transfer",
                  product_family="Data Transfer", usage_type=f"{px}{utype}", operation="",
                  resource_id="", instance_type="", pricing_unit="GB", list_rate=_dec(rate),
                  rate=_dec(rate), purchase_option="OnDemand", profile="variable",
                  base_amount=base * scale + 2, description=desc)  # fmt: skip
