# ruff: noqa: E501
"""The company's meters: one row per (resource, usage type) that bills every hour.

A *meter* is the static part of a line item (account, product, usage type, rates, tags, how its
usage moves over time); ``costlens.sample.lines`` crosses the meters with the hours of a billing
period in DuckDB. The list is built once per seed and scale, in Python, and is small (a few
hundred meters at scale 1, a few thousand at the 10-million-line scale). What each workload kind
bills is in ``costlens.sample.workloads``, prices in ``costlens.sample.catalog``, the product
attributes and fleet styles in ``costlens.sample.products``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from costlens.sample import company as co
from costlens.sample.products import apply_fleet_styles, describe_product
from costlens.sample.tables import create_temp_table
from costlens.sample.workloads import ACCOUNT_REGION, REGION_PREFIX, add_shared, add_workload

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

QUIET_DAYS = timedelta(days=21)
"""No change is injected in the first three weeks of history (detectors need a baseline)."""


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
    volume_api_name: str = ""
    """The product attributes (``costlens.sample.products.describe_product``), '' if none."""
    volume_type: str = ""
    storage_class: str = ""
    database_engine: str = ""
    license_model: str = ""
    operating_system: str = ""
    physical_processor: str = ""


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
                    add_workload(b, ms, co.account(acct_name), kind, _tags_for(b, ms), life)
                    b.resources.append(b.meters[first:])
    add_shared(b, scale, max(3, round(eks_slots * scale * METERS_PER_SCALE_UNIT * 1.5)))
    _size_new_service(b, co.NEW_MICROSERVICE_USD_PER_DAY * scale)
    _untag_by_budget(b, forced)
    _assign_savings_plan(b)
    apply_fleet_styles(b.meters)
    for m in b.meters:
        describe_product(m)
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
    region = ACCOUNT_REGION.get(acct.name, "us-east-1")
    return b.add(microservice="", owner="", account_id=acct.account_id, account_name=acct.name,
                 region=region, service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
                 product_family="Storage Snapshot", usage_type=f"{REGION_PREFIX[region]}EBS:SnapshotUsage",
                 operation="CreateSnapshot", resource_id=b._rid("snap", acct.account_id, region),
                 instance_type="", pricing_unit="GB-Mo", list_rate=Decimal("0.05"), rate=Decimal("0.05"),
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
    ("active_to", "TIMESTAMP"), ("volume_api_name", "VARCHAR"), ("volume_type", "VARCHAR"),
    ("storage_class", "VARCHAR"), ("database_engine", "VARCHAR"), ("license_model", "VARCHAR"),
    ("operating_system", "VARCHAR"), ("physical_processor", "VARCHAR"),
)  # fmt: skip


def load_meters(con: duckdb.DuckDBPyConnection, meters: list[Meter]) -> None:
    """Create the temp table ``meters`` in ``con`` (tags as MAP<VARCHAR, VARCHAR>)."""
    create_temp_table(con, "meters", _METER_COLUMNS, [vars(m) for m in meters])
