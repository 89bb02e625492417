# ruff: noqa: E501
"""The company's meters: one row per (resource, usage type) that bills every hour.

A *meter* is the static part of a line item (account, product, usage type, rates, tags, how its
usage moves over time); ``costlens.sample.lines`` crosses the meters with the hours of a billing
period in DuckDB. The list is built once per seed and scale, in Python, and is small (a few
hundred meters at scale 1, a few thousand at the 10-million-line scale).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from costlens.sample import company as co
from costlens.sample.tables import create_temp_table

__all__ = [
    "METERS_PER_SCALE_UNIT",
    "QUIET_DAYS",
    "Meter",
    "build_meters",
    "expected_cost",
    "expected_hourly_cost",
    "load_meters",
]

METERS_PER_SCALE_UNIT = 0.6
"""Meter instances per unit of microservice weight at scale 1 (≈150k line items a month)."""

_REGION_PREFIX = {"us-east-1": "", "us-west-2": "USW2-"}
_ACCOUNT_REGION = {"northwind-data": "us-west-2"}

# (instance type, on-demand $/h); Linux, us-east-1 public prices.
_EC2_CURRENT = (
    ("m6i.2xlarge", "0.384"), ("c6i.4xlarge", "0.68"), ("m6i.4xlarge", "0.768"),
    ("c6i.8xlarge", "1.36"), ("m6i.8xlarge", "1.536"),
)  # fmt: skip
_EC2_PREVIOUS = (("m4.4xlarge", "0.80"), ("c4.4xlarge", "0.796"), ("c4.8xlarge", "1.591"))
_EC2_GRAVITON = (
    ("m7g.2xlarge", "0.3264"), ("c7g.4xlarge", "0.578"), ("m7g.4xlarge", "0.6528"),
    ("c7g.8xlarge", "1.1563"),
)  # fmt: skip
_SPOT = (("c6i.8xlarge", "1.36", "0.5168"), ("m6i.8xlarge", "1.536", "0.5837"))
_RDS = {
    "rds-postgres": (
        "Multi-AZUsage:db.r6g.2xlarge",
        "CreateDBInstance:0014",
        "1.808",
        "PostgreSQL",
    ),
    "rds-mysql": ("InstanceUsage:db.r6g.xlarge", "CreateDBInstance:0002", "0.43", "MySQL"),
    "rds-sqlserver": (
        "InstanceUsage:db.m5.2xlarge",
        "CreateDBInstance:0012",
        "2.924",
        "SQL Server",
    ),
    "rds-oracle": ("InstanceUsage:db.m5.xlarge", "CreateDBInstance:0005", "1.088", "Oracle"),
}
QUIET_DAYS = timedelta(days=21)
"""No change is injected in the first three weeks of history (detectors need a baseline)."""
SP_DISCOUNT = Decimal("0.72")
"""Savings Plan rate as a fraction of the on-demand rate (a 1-year no-upfront Compute SP)."""
RI_UPFRONT_HOURLY = Decimal("0.1130")
"""Amortized upfront per instance-hour of the m6i.2xlarge partial-upfront reservation."""
RI_RECURRING_HOURLY = Decimal("0.1100")
"""Recurring fee per instance-hour of that reservation."""
EKS_NODE = ("m6i.2xlarge", "0.384")


@dataclass
class Meter:
    """One billed (resource, usage type) pair; rates are exact decimals per pricing unit."""

    meter_id: int
    microservice: str
    owner: str
    account_id: str
    account_name: str
    region: str
    service_code: str
    service_name: str
    product_family: str
    usage_type: str
    operation: str
    resource_id: str
    instance_type: str
    pricing_unit: str
    list_rate: Decimal
    rate: Decimal
    purchase_option: str
    profile: str
    """``const`` (1 unit per hour), ``variable`` (diurnal, weekly, noisy), ``storage`` (slow
    growth, per-hour share of a GB-month), ``batch`` (runs on a random subset of hours)."""
    base_amount: float
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    sp_covered: bool = False
    ri_covered: bool = False
    active_from: datetime = datetime(2000, 1, 1)
    active_to: datetime = datetime(2100, 1, 1)


_WEEK_FACTOR = (5 + 2 * 0.6) / 7
"""Mean of the variable profile's weekday/weekend factor (weekends at 60 %)."""
_BATCH_DUTY = (5 * 0.75 + 2 * 0.35) / 7
"""Share of hours a Spot batch meter runs (75 % of weekday hours, 35 % of weekend hours)."""


def expected_hourly_cost(m: Meter, months_in: float) -> float:
    """The mean unblended cost per active hour of ``m``, ``months_in`` months into the history,
    without anomalies (the diurnal curve and the noise average out to 1).

    >>> m = Meter(0, "a", "t", "1", "n", "us-east-1", "AmazonEC2", "EC2", "Compute", "BoxUsage",
    ...           "RunInstances", "i-1", "m6i.large", "Hrs", Decimal("0.096"), Decimal("0.096"),
    ...           "OnDemand", "const", 1.0, "")
    >>> expected_hourly_cost(m, 0.0)
    0.096
    """
    rate = float(m.rate if m.purchase_option == "Spot" else m.list_rate)
    match m.profile:
        case "const":
            amount = 1.0
        case "batch":
            amount = _BATCH_DUTY
        case "storage":
            amount = m.base_amount * (1 + 0.02 * months_in) / 730.0
        case _:
            amount = m.base_amount * _WEEK_FACTOR * (1 + 0.03 * months_in)
    return amount * rate


def expected_cost(m: Meter, start: datetime, end: datetime) -> float:
    """The expected unblended cost of ``m`` over ``[start, end)`` (its active part only)."""
    lo, hi = max(start, m.active_from), min(end, m.active_to)
    if hi <= lo:
        return 0.0
    mid = lo + (hi - lo) / 2
    months_in = (mid - start).total_seconds() / (720 * 3600)
    return expected_hourly_cost(m, months_in) * (hi - lo).total_seconds() / 3600


def _dec(text: str) -> Decimal:
    return Decimal(text)


class _Builder:
    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.meters: list[Meter] = []
        self.start, self.end = start, end
        self.resource_no = 0
        self.resources: list[list[Meter]] = []
        """The meters of each microservice resource (one ``_workload`` call), in build order."""

    def _rid(self, kind: str, account_id: str, region: str) -> str:
        self.resource_no += 1
        n = self.resource_no
        digest = f"{self.rng.getrandbits(68):017x}"
        match kind:
            case "i":
                return f"i-{digest}"
            case "vol":
                return f"vol-{digest}"
            case "snap":
                return f"arn:aws:ec2:{region}::snapshot/snap-{digest}"
            case "db":
                return f"arn:aws:rds:{region}:{account_id}:db:db-{n:05d}"
            case "fn":
                return f"arn:aws:lambda:{region}:{account_id}:function:fn-{n:05d}"
            case "table":
                return f"arn:aws:dynamodb:{region}:{account_id}:table/table-{n:05d}"
            case "bucket":
                return f"northwind-{account_id[-2:]}-bucket-{n:05d}"
            case "dist":
                return f"arn:aws:cloudfront::{account_id}:distribution/E{digest[:13].upper()}"
            case "nat":
                return f"arn:aws:ec2:{region}:{account_id}:natgateway/nat-{digest}"
            case _:
                return f"arn:aws:eks:{region}:{account_id}:cluster/{co.SHARED_EKS_CLUSTER}"

    def add(self, **kw: object) -> Meter:
        m = Meter(meter_id=len(self.meters), **kw)  # type: ignore[arg-type]
        self.meters.append(m)
        return m


def _tags_for(b: _Builder, ms: co.Microservice) -> dict[str, str]:
    r, acc = b.rng.random(), 0.0
    for variant in ms.tag_variants:
        acc += variant.share
        if r <= acc:
            return dict(variant.tags)
    return dict(ms.tag_variants[-1].tags)


def _workload(b: _Builder, ms: co.Microservice, acct: co.Account, kind: str, tags: dict[str, str],
              life: tuple[datetime, datetime]) -> None:  # fmt: skip
    region = _ACCOUNT_REGION.get(acct.name, "us-east-1")
    px = _REGION_PREFIX[region]
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
                _EC2_PREVIOUS if old else _EC2_CURRENT,
                "gp2" if old or rng.random() < 0.4 else "gp3",
            )
        case "ec2-graviton":
            ec2(_EC2_GRAVITON, "gp3")
        case "ec2-spot":
            itype, od, spot = rng.choice(_SPOT)
            b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
                  product_family="Compute Instance", usage_type=f"{px}SpotUsage:{itype}",
                  operation="RunInstances:SV001", resource_id=b._rid("i", acct.account_id, region),
                  instance_type=itype, pricing_unit="Hrs", list_rate=_dec(od), rate=_dec(spot),
                  purchase_option="Spot", profile="batch", base_amount=1.0,
                  description=f"${spot} per Linux/UNIX (Amazon VPC), {itype} Spot Instance-hour")  # fmt: skip
        case "eks":
            pass  # pods on the shared cluster: billed on its nodes (see _shared)
        case "rds-postgres" | "rds-mysql" | "rds-sqlserver" | "rds-oracle":
            utype, op, rate, engine = _RDS[kind]
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
            for utype, op, rate, share, label in (
                ("TimedStorage-ByteHrs", "StandardStorage", "0.023", 0.5, "Standard"),
                ("TimedStorage-SIA-ByteHrs", "StandardIAStorage", "0.0125", 0.3, "Standard-IA"),
                ("TimedStorage-GlacierByteHrs", "GlacierStorage", "0.0036", 0.2, "Glacier"),
            ):
                variable("AmazonS3", "Amazon Simple Storage Service", "Storage", f"{px}{utype}", op,
                         rid, "GB-Mo", rate, tb * share, f"${rate} per GB-Month of {label} storage",
                         "storage")  # fmt: skip
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


def _shared(b: _Builder, scale: float, eks_slots: int) -> None:
    prod, shared = co.account("northwind-prod"), co.account("northwind-shared-services")
    platform = co.microservice("service-mesh")
    common = {"microservice": "", "owner": "", "account_id": prod.account_id,
              "account_name": prod.name, "region": "us-east-1"}  # fmt: skip
    cluster = b._rid("eks", prod.account_id, "us-east-1")
    b.add(**common, service_code="AmazonEKS", service_name="Amazon Elastic Container Service for Kubernetes",
          product_family="Compute", usage_type="AmazonEKS-Hours:perCluster", operation="CreateOperation",
          resource_id=cluster, instance_type="", pricing_unit="Hours", list_rate=_dec("0.10"),
          rate=_dec("0.10"), purchase_option="OnDemand", profile="const", base_amount=1.0,
          description="Amazon EKS cluster usage", tags={"team": "platform", "eks:cluster-name": co.SHARED_EKS_CLUSTER})  # fmt: skip
    itype, rate = EKS_NODE
    nodes = max(3, round(eks_slots * scale * METERS_PER_SCALE_UNIT * 1.5))
    for i in range(nodes):
        b.add(**common, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
              product_family="Compute Instance", usage_type=f"BoxUsage:{itype}",
              operation="RunInstances", resource_id=b._rid("i", prod.account_id, "us-east-1"),
              instance_type=itype, pricing_unit="Hrs", list_rate=_dec(rate), rate=_dec(rate),
              purchase_option="OnDemand", profile="const", base_amount=1.0,
              description=f"${rate} per On Demand Linux {itype} Instance Hour",
              tags={"team": "platform", "eks:cluster-name": co.SHARED_EKS_CLUSTER},
              ri_covered=i < nodes - 1)  # fmt: skip
    del platform
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
        region = _ACCOUNT_REGION.get(acct.name, "us-east-1")
        px = _REGION_PREFIX[region]
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


def build_meters(
    seed: int, scale: float, start: datetime, end: datetime, forced: frozenset[str]
) -> list[Meter]:
    """The meters of the company at ``scale`` over the history ``[start, end)``.

    Microservices in ``forced`` get at least one instance of each workload even at tiny scales.
    The retired microservice stops a third of the way through; the new one starts at two thirds.
    """
    b = _Builder(seed, start, end)
    span = end - start
    retire_at = start + span / 3
    new_at = start + span * 2 / 3
    if new_at < start + QUIET_DAYS < end:
        new_at = start + QUIET_DAYS  # not in the anomaly detector's quiet start
    eks_slots = 0
    for ms in (*co.MICROSERVICES, co.microservice(co.NEW_MICROSERVICE)):
        life = (start, end)
        if ms.name == co.RETIRED_MICROSERVICE:
            life = (start, retire_at.replace(minute=0, second=0))
        elif ms.name == co.NEW_MICROSERVICE:
            life = (new_at.replace(minute=0, second=0), end)
        for kind in ms.workloads:
            if kind == "eks":
                eks_slots += 1
                continue
            for n_acct, acct_name in enumerate(ms.accounts):
                expected = ms.weight * scale * METERS_PER_SCALE_UNIT / (1 + n_acct)
                count = math.floor(expected + b.rng.random())
                if n_acct == 0 and ms.name in forced:
                    count = max(count, 1)
                for _ in range(count):
                    first = len(b.meters)
                    _workload(b, ms, co.account(acct_name), kind, _tags_for(b, ms), life)
                    b.resources.append(b.meters[first:])
    _shared(b, scale, eks_slots)
    _size_new_service(b, co.NEW_MICROSERVICE_USD_PER_DAY * scale)
    _untag_by_budget(b, forced)
    _assign_savings_plan(b)
    return b.meters


def _size_new_service(b: _Builder, usd_per_day: float) -> None:
    """Scale the new microservice's request-driven meters so that, at full size, it costs
    about ``usd_per_day`` (a launch big enough to show up, whatever the scale)."""
    new = [m for m in b.meters if m.microservice == co.NEW_MICROSERVICE]
    variable = [m for m in new if m.profile == "variable"]
    fixed = sum(expected_hourly_cost(m, 0.0) for m in new if m.profile != "variable")
    current = sum(expected_hourly_cost(m, 0.0) for m in variable)
    wanted = usd_per_day / 24 - fixed
    if current > 0 and wanted > 0:
        for m in variable:
            m.base_amount *= wanted / current


def _untag_by_budget(b: _Builder, keep: frozenset[str]) -> None:
    """Strip the tags of whole resources until untagged usage is ``co.UNTAGGED_SHARE`` of the
    expected usage cost (counting the shared network, which carries no tags).

    Chosen by cost, not by count, so one large resource cannot swing the share: resources are
    taken in a seeded random order while they fit the remaining budget. At most
    ``co.UNATTRIBUTABLE_SHARE`` may sit in accounts the shipped rules cannot attribute (prod,
    staging); the rest goes to accounts whose untagged spend ``data/rules.yaml`` attributes by
    account. What no resource fits is filled with orphaned, untagged EBS snapshots there.
    Microservices in ``keep`` (anomaly targets, the new and the retired one) stay tagged.
    """
    cost = [expected_cost(m, b.start, b.end) for m in b.meters]
    total = sum(cost)
    budget = co.UNTAGGED_SHARE * total - sum(
        c for m, c in zip(b.meters, cost, strict=True) if not m.tags
    )
    loose = co.UNATTRIBUTABLE_SHARE * total
    order = list(b.resources)
    b.rng.shuffle(order)
    for resource in order:
        if resource[0].microservice in keep:
            continue
        by_account = resource[0].account_name in co.ACCOUNT_ATTRIBUTED
        room = budget if by_account else min(budget, loose)
        amount = sum(cost[m.meter_id] for m in resource)
        if amount > room:
            continue
        for m in resource:
            m.tags = {}
        budget -= amount
        loose -= 0 if by_account else amount
    if budget > 0:
        _orphaned_snapshots(b, budget)


_SNAPSHOT_GB_MAX = 16_384.0
"""Largest EBS snapshot (a 16 TiB volume)."""


def _orphaned_snapshots(b: _Builder, usd: float) -> None:
    """Untagged EBS snapshots nobody owns, costing ``usd`` over the history in total, in the
    accounts that ``data/rules.yaml`` attributes by account."""
    homes = [co.account(name) for name in co.ACCOUNT_ATTRIBUTED[:2]]
    unit = _orphan(b, homes[0], 1.0)
    per_gb = expected_cost(unit, b.start, b.end)
    b.meters.pop()
    gb = usd / per_gb
    count = max(1, math.ceil(gb / _SNAPSHOT_GB_MAX))
    for i in range(count):
        _orphan(b, homes[i % len(homes)], gb / count)


def _orphan(b: _Builder, acct: co.Account, gb: float) -> Meter:
    region = _ACCOUNT_REGION.get(acct.name, "us-east-1")
    return b.add(microservice="", owner="", account_id=acct.account_id, account_name=acct.name,
                 region=region, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
                 product_family="Storage Snapshot", usage_type=f"{_REGION_PREFIX[region]}EBS:SnapshotUsage",
                 operation="CreateSnapshot", resource_id=b._rid("snap", acct.account_id, region),
                 instance_type="", pricing_unit="GB-Mo", list_rate=_dec("0.05"), rate=_dec("0.05"),
                 purchase_option="OnDemand", profile="storage", base_amount=gb,
                 description="$0.05 per GB-Month of snapshot data stored")  # fmt: skip


def _assign_savings_plan(b: _Builder) -> None:
    """The Compute Savings Plan covers the always-on current-generation and Graviton instances
    of the prod account (never the retired or new microservice's)."""
    prod = co.account("northwind-prod").account_id
    for m in b.meters:
        if (
            m.account_id == prod
            and m.purchase_option == "OnDemand"
            and m.instance_type[:3] in ("c6i", "m7g", "c7g")
            and m.microservice not in (co.RETIRED_MICROSERVICE, co.NEW_MICROSERVICE)
            and not m.ri_covered
        ):
            m.sp_covered = True


_METER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("meter_id", "INTEGER"), ("microservice", "VARCHAR"), ("owner", "VARCHAR"),
    ("account_id", "VARCHAR"), ("account_name", "VARCHAR"), ("region", "VARCHAR"),
    ("service_code", "VARCHAR"), ("service_name", "VARCHAR"), ("product_family", "VARCHAR"),
    ("usage_type", "VARCHAR"), ("operation", "VARCHAR"), ("resource_id", "VARCHAR"),
    ("instance_type", "VARCHAR"), ("pricing_unit", "VARCHAR"), ("list_rate", "DECIMAL(18,10)"),
    ("rate", "DECIMAL(18,10)"), ("purchase_option", "VARCHAR"), ("profile", "VARCHAR"),
    ("base_amount", "DOUBLE"), ("description", "VARCHAR"), ("tags", "MAP(VARCHAR, VARCHAR)"),
    ("sp_covered", "BOOLEAN"), ("ri_covered", "BOOLEAN"), ("active_from", "TIMESTAMP"),
    ("active_to", "TIMESTAMP"),
)  # fmt: skip


def load_meters(con: duckdb.DuckDBPyConnection, meters: list[Meter]) -> None:
    """Create the temp table ``meters`` in ``con`` (tags as MAP<VARCHAR, VARCHAR>)."""
    create_temp_table(con, "meters", _METER_COLUMNS, [vars(m) for m in meters])
