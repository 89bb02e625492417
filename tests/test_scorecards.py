"""Scorecards end to end: CUR exports -> ingest -> attribute -> compute_scorecards.

One crafted month (June 2025) whose every KPI figure is worked out by hand below, written in
the three CUR formats (the same figures from each), checked against a reference computed
directly from the SQL of AWS CID's KPI views (aws-samples/aws-cudos-framework-deployment,
cid/builtin/core/data/queries/kpi/) per account, and the card's savings,
n/a KPIs, goal overrides, business metrics and actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scorecard_fixtures import FORMATS, KpiLine, write_export

from costlens.attribution import attribute, parse_owners, parse_rules
from costlens.config import Settings
from costlens.scorecards.compute import ScorecardInputs, Scorecards, compute_scorecards
from costlens.warehouse import open_warehouse
from ingest import ingest

JUN = date(2025, 6, 1)
MAY = date(2025, 5, 1)
APR = date(2025, 4, 1)
OLD = date(2024, 5, 1)
"""13 months before June: a snapshot first seen then is over a year old in June."""
A, B = "111111111111", "222222222222"

OWNERS_YAML = """\
owners:
  - id: web
    microservices: [frontend, api]
  - id: data
    microservices: [warehouse]
"""
RULES_YAML = """\
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
"""

_LINUX = {"operating_system": "Linux"}
_INTEL = {**_LINUX, "physical_processor": "Intel Xeon Platinum 8175"}


def _ec2(period: date, rid: str, itype: str, cost: str, app: str, **kw: Any) -> KpiLine:
    base: dict[str, Any] = {
        "usage_type": f"USE1-BoxUsage:{itype}", "instance_type": itype, "public_cost": cost,
        "usage_amount": "720", **_INTEL, "tags": {"app": app},
    }  # fmt: skip
    base.update(kw)
    return KpiLine(period, rid, cost, account=A, **base)


def _april() -> list[KpiLine]:
    """A month of commitments and edge cases for the CID reference only (account A, frontend):
    a Compute and an EC2 Instance Savings Plan with their negations, an RI fee, Windows,
    Fargate, a gp2 volume over 1,000 GB in daily lines, an archived snapshot."""
    sp = "arn:aws:savingsplans::111111111111:savingsplan/sp-"
    vol = {"usage_type": "USE1-EBS:VolumeUsage.gp2", "operation": "CreateVolume-Gp2",
           "pricing_unit": "GB-Mo", "volume_api_name": "gp2", "usage_amount": "1000",
           "tags": {"app": "frontend"}}  # fmt: skip
    return [
        _ec2(APR, "i-0csp", "m5.large", "10.00", "frontend", public_cost="10.00",
             line_item_type="SavingsPlanCoveredUsage", sp_effective_cost="7.00",
             savings_plan_arn=sp + "1", savings_plan_offering_type="ComputeSavingsPlans"),
        _ec2(APR, "i-0csp", "m5.large", "-10.00", "frontend", public_cost="0",
             line_item_type="SavingsPlanNegation", savings_plan_arn=sp + "1",
             savings_plan_offering_type="ComputeSavingsPlans"),
        _ec2(APR, "i-0ec2sp", "c5.large", "8.00", "frontend", public_cost="8.00",
             line_item_type="SavingsPlanCoveredUsage", sp_effective_cost="5.00",
             savings_plan_arn=sp + "2", savings_plan_offering_type="EC2InstanceSavingsPlans"),
        _ec2(APR, "i-0windows", "m5.large", "25.00", "frontend",
             operating_system="Windows", usage_type="USE1-BoxUsage:m5.large"),
        _ec2(APR, "ri-0fee", "r5.large", "50.00", "frontend", line_item_type="RIFee",
             public_cost="0", ri_unused_recurring="5.00", pricing_term="Reserved",
             reservation_arn="arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1"),
        KpiLine(APR, "task/0fargate", "12.00", product_code="AmazonECS",
                usage_type="USE1-Fargate-vCPU-Hours:perCPU", operation="FargateTask",
                public_cost="12.00", tags={"app": "frontend"}),
        KpiLine(APR, "vol-0big", "100.00", day=1, **vol),
        KpiLine(APR, "vol-0big", "100.00", day=2, **vol),
        KpiLine(APR, "snap-0archived", "4.00", usage_type="USE1-EBS:SnapshotArchiveStorage",
                operation="CreateSnapshot", pricing_unit="GB-Mo", tags={"app": "frontend"}),
    ]  # fmt: skip


def _lines() -> list[KpiLine]:
    ebs = {"operation": "CreateVolume-Gp2", "pricing_unit": "GB-Mo", "tags": {"app": "frontend"}}
    snap = {"usage_type": "USE1-EBS:SnapshotUsage", "operation": "CreateSnapshot",
            "pricing_unit": "GB-Mo", "tags": {"app": "api"}}  # fmt: skip
    s3 = {"product_code": "AmazonS3", "pricing_unit": "GB-Mo", "account": B,
          "tags": {"app": "warehouse"}}  # fmt: skip
    rds = {"product_code": "AmazonRDS", "account": B, "usage_amount": "720",
           "physical_processor": "Intel Xeon Platinum 8175",
           "tags": {"app": "warehouse"}}  # fmt: skip
    return [
        # --- web / frontend (account A)
        _ec2(JUN, "i-0m5intel", "m5.xlarge", "100.00", "frontend"),
        _ec2(JUN, "i-0m7graviton", "m7g.large", "50.00", "frontend",
             physical_processor="AWS Graviton3"),
        KpiLine(JUN, "vol-0gp2", "50.00", usage_type="USE1-EBS:VolumeUsage.gp2",
                usage_amount="500", volume_api_name="gp2", **ebs),
        KpiLine(JUN, "vol-0gp3", "16.00", usage_type="USE1-EBS:VolumeUsage.gp3",
                usage_amount="200", volume_api_name="gp3", **ebs),
        # --- web / api (account A)
        _ec2(JUN, "i-0c5spot", "c5.large", "30.00", "api", usage_type="USE1-SpotUsage:c5.large",
             public_cost="70.00", pricing_term="Spot"),
        _ec2(JUN, "i-0r5reserved", "r5.large", "0", "api", line_item_type="DiscountedUsage",
             ri_effective_cost="40.00", public_cost="60.00", pricing_term="Reserved",
             reservation_arn="arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1"),
        _ec2(JUN, "i-0m5aamd", "m5a.large", "20.00", "api", physical_processor="AMD EPYC 7571"),
        KpiLine(JUN, "snap-0old", "10.00", day=3, usage_amount="200", **snap),
        KpiLine(JUN, "snap-0new", "5.00", day=3, usage_amount="100", **snap),
        KpiLine(OLD, "snap-0old", "10.00", day=7, usage_amount="200", **snap),
        _ec2(MAY, "i-0m7graviton", "m7g.large", "40.00", "frontend",
             physical_processor="AWS Graviton3"),
        *_april(),
        # --- data / warehouse (account B): no EC2
        KpiLine(JUN, "logs-bucket", "65.00", usage_type="USE1-TimedStorage-ByteHrs",
                operation="StandardStorage", usage_amount="2826", volume_type="Standard", **s3),
        KpiLine(JUN, "archive-bucket", "35.00", usage_type="USE1-TimedStorage-SIA-ByteHrs",
                operation="StandardIAStorage", usage_amount="2800",
                volume_type="Standard - Infrequent Access", **s3),
        KpiLine(JUN, "db-oracle", "40.00", usage_type="USE1-InstanceUsage:db.r5.large",
                operation="CreateDBInstance:0004", instance_type="db.r5.large",
                database_engine="Oracle", license_model="License included", public_cost="40.00",
                **rds),
        KpiLine(JUN, "db-mysql", "60.00", usage_type="USE1-InstanceUsage:db.m5.large",
                operation="CreateDBInstance:0002", instance_type="db.m5.large",
                database_engine="MySQL", license_model="No license required", public_cost="60.00",
                **rds),
    ]  # fmt: skip


LINES = _lines()


def _build(root: Path, fmt: str, owners_yaml: str = OWNERS_YAML) -> Path:
    write_export(root / "export", fmt, LINES)
    data = root / "data"
    report = ingest(Settings(data_dir=data), str(root / "export"))
    assert {d.format for d in report.deliveries} == {fmt}
    with open_warehouse(data) as wh:
        attribute(wh, parse_rules(RULES_YAML, "rules.yaml", parse_owners(owners_yaml, "o.yaml")))
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {fmt: _build(tmp_path_factory.mktemp(fmt), fmt) for fmt in FORMATS}


def _cards(data: Path, inputs: ScorecardInputs | None = None) -> Scorecards:
    with open_warehouse(data) as wh:
        return compute_scorecards(wh.con, inputs)


def _jun(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["billing_period"] == JUN]


def _row(sc: Scorecards, scope: str, scope_id: str, name: str, period: date = JUN) -> pd.Series:
    k = sc.kpis
    hit = k[(k.billing_period == period) & (k.scope == scope) & (k.scope_id == scope_id)
            & (k.kpi == name)]  # fmt: skip
    assert len(hit) == 1, (scope, scope_id, name)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def cards(built: dict[str, Path]) -> Scorecards:
    return _cards(built["cur2"])


# ---------------------------------------------------------------------------------------------
# Hand figures, June 2025. Per resource (amortized / on-demand equivalent "adjusted"):
#   web/frontend  i-0m5intel    m5.xlarge Intel on demand     100 / 100  (Previous; ->m7g, ->m6a)
#                 i-0m7graviton m7g.large Graviton on demand    50 /  50  (Current)
#                 vol-0gp2      gp2 500 GB-Mo                   50 (unblended)
#                 vol-0gp3      gp3 200 GB-Mo                   16
#   web/api       i-0c5spot     c5.large Spot                   30 /  70  (public on-demand 70)
#                 i-0r5reserved r5.large RI DiscountedUsage     40 /  60  (RI effective, public)
#                 i-0m5aamd     m5a.large AMD on demand         20 /  20  (Previous; ->m7g)
#                 snap-0old     snapshot, first seen 2024-05-07 10; snap-0new first seen June 5
#   data/warehouse (account B)  logs-bucket S3 Standard 65, archive-bucket Standard-IA 35,
#                 db-oracle Oracle License included 40, db-mysql MySQL (db.m5 -> m6g) 60
#
# web (= account A):
#   previous_generation_share: EC2 amortized 100+50+30+40+20 = 240; previous gen and free to move
#     (not Spot, not RI): m5 100 + m5a 20 = 120 -> 120/240; savings 5 % x 120 = 6.00
#   graviton_share: eligible = Graviton 50 + flexible with a Graviton family (m5 100, m5a 20) = 170
#     (Spot and RI are not flexible); value 50/170; savings 20 % x 100 + 10 % (AMD) x 20 = 22.00
#   amd_share: eligible (not Graviton) m5 100 (-> m6a) + m5a 20 = 120; AMD 20 -> 20/120;
#     savings 10 % x 100 = 10.00
#   spot_coverage (on-demand equivalent both sides): Spot 70 / (100+50+70+60+20 = 300); eligible
#     spend 240 (amortized); savings 55 % x (100 + 50 + 20) = 93.50
#   compute_on_demand_share: on demand 170 / 300; savings 20 % x 170 = 34.00
#   commitment_coverage (no Spot): RI 60 / (100+50+60+20 = 230); eligible 210; savings 34.00
#   ebs_gp3_share: 16 / (50 + 16); gp2 -> gp3 by CID: 50 - (50 x 0.8 + 0.08 x 0.5 x 125) = 5.00
#   ebs_snapshots_over_1yr: 10 / 15; savings 10.00
# data (= account B):
#   s3_standard_share 65 / 100, savings 30 % x 65 = 19.50
#   rds_open_source_share 60 / 100 (on-demand equivalent), savings 15 % x 40 (Oracle LI) = 6.00
#   rds_graviton_share 0 / 60 (MySQL m5 -> m6g; Oracle cannot move), savings 10 % x 60 = 6.00
#   commitment_coverage 0 / 100, savings 20 % x 100 = 20.00
# ---------------------------------------------------------------------------------------------
D = Decimal
HAND: dict[tuple[str, str, str], tuple[str, str, str, str]] = {
    # (scope, id, kpi): (numerator, denominator, eligible spend, potential savings)
    ("owner", "web", "previous_generation_share"): ("120", "240", "240", "6.00"),
    ("owner", "web", "graviton_share"): ("50", "170", "170", "22.00"),
    ("owner", "web", "amd_share"): ("20", "120", "120", "10.00"),
    ("owner", "web", "spot_coverage"): ("70", "300", "240", "93.50"),
    ("owner", "web", "compute_on_demand_share"): ("170", "300", "240", "34.00"),
    ("owner", "web", "commitment_coverage"): ("60", "230", "210", "34.00"),
    ("owner", "web", "ebs_gp3_share"): ("16", "66", "66", "5.00"),
    ("owner", "web", "ebs_snapshots_over_1yr"): ("10", "15", "15", "10.00"),
    ("owner", "data", "s3_standard_share"): ("65", "100", "100", "19.50"),
    ("owner", "data", "rds_open_source_share"): ("60", "100", "100", "6.00"),
    ("owner", "data", "rds_graviton_share"): ("0", "60", "60", "6.00"),
    ("owner", "data", "commitment_coverage"): ("0", "100", "100", "20.00"),
    # frontend: i-0m5intel, i-0m7graviton and the two volumes
    ("microservice", "frontend", "previous_generation_share"): ("100", "150", "150", "5.00"),
    ("microservice", "frontend", "graviton_share"): ("50", "150", "150", "20.00"),
    ("microservice", "frontend", "amd_share"): ("0", "100", "100", "10.00"),
    ("microservice", "frontend", "spot_coverage"): ("0", "150", "150", "82.50"),
    ("microservice", "frontend", "ebs_gp3_share"): ("16", "66", "66", "5.00"),
    # api: Spot c5 (30/70), RI r5 (40/60), AMD m5a 20, the snapshots
    ("microservice", "api", "previous_generation_share"): ("20", "90", "90", "1.00"),
    ("microservice", "api", "graviton_share"): ("0", "20", "20", "2.00"),
    ("microservice", "api", "amd_share"): ("20", "20", "20", "0"),
    ("microservice", "api", "spot_coverage"): ("70", "150", "90", "11.00"),
    ("microservice", "api", "commitment_coverage"): ("60", "80", "60", "4.00"),
    ("microservice", "api", "ebs_snapshots_over_1yr"): ("10", "15", "15", "10.00"),
}


@pytest.mark.parametrize("key", list(HAND), ids=["/".join(k[1:]) for k in HAND])
def test_kpi_figures_match_the_hand_computation(cards: Scorecards, key: tuple[str, ...]) -> None:
    num, den, eligible, savings = (D(x) for x in HAND[key])
    row = _row(cards, *key)
    assert row["value"] == float(num / den)
    assert (row["numerator"], row["denominator"]) == (num, den)
    assert row["eligible_spend"] == eligible
    assert row["potential_savings"] == savings


def test_grades_scores_and_savings_at_goal_by_hand(cards: Scorecards) -> None:
    # commitment_coverage of web: 60/230 = 0.2608695652 against 0.70 (higher is better):
    # score 0.2608695652 / 0.7 = 0.3727 -> F; at goal: 34 x (0.70 - 0.2608695652) = 14.9304347832
    row = _row(cards, "owner", "web", "commitment_coverage")
    assert row["goal"] == D("0.70") and row["grade"] == "F"
    assert row["score"] == pytest.approx(float(D(60) / D(230)) / 0.7, abs=1e-12)
    assert row["savings_at_goal"] == D("14.9304347832")
    # s3_standard_share of data: 0.65 is the goal (lower is better): A, nothing at goal
    row = _row(cards, "owner", "data", "s3_standard_share")
    assert (row["score"], row["grade"], row["savings_at_goal"]) == (1.0, "A", D(0))
    # rds_open_source_share: 0.60 against 0.75: score 0.8 -> B; at goal 6.00 x 0.15 = 0.90
    row = _row(cards, "owner", "data", "rds_open_source_share")
    assert row["grade"] == "B" and row["savings_at_goal"] == D("0.9")
    assert row["score"] == pytest.approx(0.8, abs=1e-12)


def _frames(sc: Scorecards) -> list[pd.DataFrame]:
    out = []
    keys = {
        "kpis": ["billing_period", "scope", "scope_id", "kpi", "detail"],
        "cards": ["billing_period", "scope", "scope_id"],
        "actions": ["billing_period", "owner", "microservice", "kpi"],
    }
    for name, by in keys.items():
        frame: pd.DataFrame = getattr(sc, name)
        out.append(frame.sort_values(by).reset_index(drop=True).astype(object))
    return out


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "cur2"])
def test_every_cur_format_gives_the_same_scorecards(
    built: dict[str, Path], cards: Scorecards, fmt: str
) -> None:
    for got, want in zip(_frames(_cards(built[fmt])), _frames(cards), strict=True):
        pd.testing.assert_frame_equal(got, want)
    assert len(_jun(cards.kpis)) > 0


# ---------------------------------------------------------------------------------------------
# A reference straight from the SQL of CID's KPI views (kpi_instance_all, kpi_ebs_storage_all,
# kpi_ebs_snap, kpi_s3_storage_all, kpi_tracker), over line_items.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    generation: str
    processor: str
    latest_graviton: str
    latest_amd: str


CID_EC2_FAMILIES = {  # kpi_instance_mapping, sec. 3, for the families of the data
    "m5": Family("Previous", "Intel", "m7g", "m6a"),
    "m5a": Family("Previous", "AMD", "m7g", "m6a"),
    "m7g": Family("Current", "Graviton", "", ""),
    "c5": Family("Previous", "Intel", "c7g", "c6a"),
    "r5": Family("Previous", "Intel", "r6g", "r6a"),
}
NONE = Family("", "", "", "")
ZERO = D(0)
SP_PRODUCTS = ("ComputeSavingsPlans", "MachineLearningSavingsPlans")
COMPUTE = ("AmazonEC2", "AmazonECS", "AmazonEKS", "AWSLambda", "ComputeSavingsPlans")
INSTANCE_SERVICES = (
    "AmazonElastiCache",
    "AmazonES",
    "AmazonRDS",
    "AmazonRedshift",
    "AmazonSageMaker",
)


def _cid_reference(data: Path, period: date) -> dict[tuple[str, str], tuple[D, D, D]]:
    """(account, kpi) -> (numerator, denominator, potential savings), as CID's views sum them."""
    with open_warehouse(data) as wh:
        cur = wh.con.execute("SELECT * FROM line_items")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    snap_start: dict[str, Any] = {}
    for r in rows:  # kpi_ebs_snap: first usage per resource over all time, type 'Snapshot'
        ut = r["usage_type"]
        if ("Usage" in r["line_item_type"] and r["service_code"] == "AmazonEC2"
                and "EBS:Snapshot" in ut and "EBS:SnapshotArchive" not in ut):  # fmt: skip
            day = r["usage_start"].date()
            snap_start[r["resource_id"]] = min(day, snap_start.get(r["resource_id"], day))
    year_before = date(period.year - 1, period.month, 1)
    out: dict[tuple[str, str], list[D]] = {}
    gp2: dict[tuple[str, str], tuple[D, D]] = {}  # (account, volume) -> (GB-months, cost)

    def add(account: str, name: str, num: D = ZERO, den: D = ZERO, save: D = ZERO) -> None:
        acc = out.setdefault((account, name), [D(0), D(0), D(0)])
        acc[0] += num
        acc[1] += den
        acc[2] += save

    for r in rows:
        if r["billing_period"] != period:
            continue
        acct, lit, product = r["account_id"], r["line_item_type"] or "", r["service_code"]
        ut, op, itype = r["usage_type"] or "", r["operation"] or "", r["instance_type"] or ""
        amortized, public = D(r["amortized_cost"]), D(r["list_cost"])
        unblended = D(r["unblended_cost"])
        cdtype, offering = r["commitment_discount_type"] or "", r["commitment_offering_type"] or ""
        purchase = ("SavingsPlan" if cdtype == "Savings Plan" else "Reserved"
                    if cdtype == "Reservation" else "Spot" if "Spot" in ut
                    else "OnDemand")  # fmt: skip
        spot_public = "Spot" in ut and public > 0
        covered = lit in ("SavingsPlanCoveredUsage", "DiscountedUsage")
        adjusted = public if spot_public or covered else amortized
        usage = "Usage" in lit
        # kpi_instance_all's row filter and derivations (sec. 2)
        instance = (r["resource_id"] != "" and product != "AWSDataTransfer"
                    and "DataXfer" not in ut
                    and (usage or lit in ("RIFee", "SavingsPlanRecurringFee"))
                    and ((product == "AmazonEC2" and itype != "" and "RunInstances" in op)
                         or (product in INSTANCE_SERVICES and itype != "")
                         or (product == "AmazonDynamoDB"
                             and op in ("CommittedThroughput", "PayPerRequestThroughput")
                             and ("ReadCapacityUnit-Hrs" in ut or "WriteCapacityUnit-Hrs" in ut)
                             and "Repl" not in ut)
                         or (product == "AWSLambda" and any(
                             x in ut for x in ("Lambda-Provisioned-GB-Second", "Lambda-GB-Second",
                                               "Lambda-Provisioned-Concurrency")))
                         or "Fargate" in ut
                         or product in SP_PRODUCTS))  # fmt: skip
        if instance:
            family = itype.split(".")[0].lower()
            fam = CID_EC2_FAMILIES.get(family, NONE) if product == "AmazonEC2" else NONE
            proc = r["physical_processor"] or ""
            adj_proc = ("Graviton" if usage and "Graviton" in proc else "AMD"
                        if usage and "AMD" in proc else "Other")  # fmt: skip
            windows = "window" in (r["operating_system"] or "").lower()
            latest_graviton = fam.latest_graviton if product == "AmazonEC2" and not windows else ""
            flexible = purchase == "OnDemand" or offering == "ComputeSavingsPlans"
            ec2 = usage and product == "AmazonEC2" and itype != "" and "RunInstances" in op
            free = purchase not in ("Spot", "Reserved") and "EC2" not in offering
            if ec2:
                prev = fam.generation == "Previous" and free
                add(acct, "previous_generation_share", amortized if prev else D(0), amortized,
                    amortized * D("0.05") if prev else D(0))  # fmt: skip
                candidate = not windows and flexible and adj_proc != "Graviton" and latest_graviton
                if not windows and (adj_proc == "Graviton" or candidate):
                    rate = D("0.10") if adj_proc == "AMD" else D("0.20")
                    add(acct, "graviton_share", amortized if adj_proc == "Graviton" else D(0),
                        amortized, amortized * rate if candidate else D(0))  # fmt: skip
                amd_candidate = flexible and adj_proc not in ("Graviton", "AMD") and fam.latest_amd
                if adj_proc != "Graviton" and (adj_proc == "AMD" or amd_candidate):
                    add(acct, "amd_share", den=amortized,
                        save=amortized * D("0.10") if amd_candidate else D(0))  # fmt: skip
                if fam.processor == "AMD":
                    add(acct, "amd_share", num=amortized)
            if product in COMPUTE:  # commit_service_group 'Compute'
                od = usage and purchase == "OnDemand"
                add(acct, "compute_on_demand_share", adjusted if od else D(0), adjusted,
                    amortized * D("0.20") if od else D(0))  # fmt: skip
        # kpi_ebs_storage_all (sec. 5), unblended
        volume = r["volume_api_name"] or ""
        if (product == "AmazonEC2" and lit == "Usage" and volume != "" and "Snap" not in ut
                and "EBS" in ut and r["pricing_unit"] in ("GB-Mo", "GB-month")
                and "EBS:VolumeUsage" in ut and volume in ("gp2", "gp3")):  # fmt: skip
            add(acct, "ebs_gp3_share", unblended if volume == "gp3" else D(0), unblended)
            if volume == "gp2":  # the estimate is per volume and month: GB-months summed first
                gb, cost = gp2.get((acct, r["resource_id"]), (ZERO, ZERO))
                gp2[(acct, r["resource_id"])] = (gb + D(str(r["usage_amount"])), cost + unblended)
        # kpi_ebs_snap (sec. 6): "% Snapshots over 1yr" = over / (over + under), both of type
        # 'Snapshot' (the tracker's ebs_snapshot_cost would also count archived snapshots)
        if (usage and product == "AmazonEC2" and r["resource_id"] != "" and "EBS:Snapshot" in ut
                and "EBS:SnapshotArchive" not in ut):  # fmt: skip
            old = snap_start[r["resource_id"]] <= year_before
            add(acct, "ebs_snapshots_over_1yr", unblended if old else D(0), unblended,
                unblended if old else D(0))  # fmt: skip
        # kpi_s3_storage_all (sec. 7)
        s3 = "AmazonS3" in product or "AmazonGlacier" in product
        if (r["resource_id"] != "" and usage and s3 and r["pricing_unit"] == "GB-Mo"
                and "Storage" in op):  # fmt: skip
            std = (r["storage_class"] or "") == "Standard"
            add(acct, "s3_standard_share", unblended if std else D(0), unblended,
                unblended * D("0.3") if std else D(0))  # fmt: skip
    for (acct, _), (gb, cost) in gp2.items():
        iops = min(max(gb * 3, D(3000)), D(16000)) - 3000
        throughput = D(125) if gb > 150 else D(0)
        unit = cost * D("0.8") / gb
        gp3 = cost * D("0.8") + unit * D("0.5") * throughput + unit * D("0.06") * iops
        add(acct, "ebs_gp3_share", save=cost - gp3)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


CID_KPIS = (
    "previous_generation_share", "graviton_share", "amd_share", "ebs_gp3_share",
    "s3_standard_share", "ebs_snapshots_over_1yr", "compute_on_demand_share",
)  # fmt: skip


@pytest.mark.parametrize("period", [JUN, APR], ids=str)
def test_account_kpis_equal_cids_formulas(
    built: dict[str, Path], cards: Scorecards, period: date
) -> None:
    reference = _cid_reference(built["cur2"], period)
    assert {a for a, _ in reference} == ({A, B} if period == JUN else {A})
    for account in (A, B) if period == JUN else (A,):
        for name in CID_KPIS:
            row = _row(cards, "account", account, name, period)
            num, den, save = reference.get((account, name), (D(0), D(0), D(0)))
            if den == 0:
                assert pd.isna(row["value"]), (account, name)
                continue
            assert row["value"] == float(num / den), (account, name)
            assert (row["numerator"], row["denominator"]) == (num, den), (account, name)
            assert row["potential_savings"] == save, (account, name)
    # the reference agrees with the hand figures (account A is web, B is data)
    if period == JUN:
        assert reference[(A, "ebs_gp3_share")][2] == D("5.00")
        assert reference[(B, "s3_standard_share")] == (D(65), D(100), D("19.50"))


def test_spot_coverage_is_on_demand_equivalent_on_both_sides(cards: Scorecards) -> None:
    # costlens: Spot's on-demand equivalent 70 over EC2's 300 (CID would divide 70 by the
    # amortized 240 = 0.2917); the eligible spend stays amortized
    row = _row(cards, "account", A, "spot_coverage")
    assert (row["numerator"], row["denominator"]) == (D(70), D(300))
    assert row["value"] == float(D(70) / D(300)) and row["eligible_spend"] == D(240)


# ---------------------------------------------------------------------------------------------
def test_savings_never_exceed_eligible_spend_and_count_each_resource_once(
    cards: Scorecards,
) -> None:
    kpis = cards.kpis[cards.kpis["potential_savings"].notna()]
    assert (kpis["potential_savings"] <= kpis["eligible_spend"]).all()
    assert (cards.cards["potential_savings"] <= cards.cards["eligible_spend"]).all()
    card = _jun(cards.cards).set_index(["scope", "scope_id"])
    # web: i-0m5intel is previous gen (5), a Graviton (20) and AMD (10) candidate, on demand
    # (20 commitment, 20 compute) and a Spot candidate (55): only its best, 55, counts; then
    # i-0m7graviton Spot 27.50, i-0m5aamd Spot 11, snap-0old 10, vol-0gp2 5 = 108.50
    assert card.loc[("owner", "web"), "potential_savings"] == D("108.50")
    assert card.loc[("owner", "web"), "eligible_spend"] == D(321)
    assert card.loc[("owner", "web"), "spend"] == D(321)
    web = _jun(cards.kpis)
    web = web[(web.scope == "owner") & (web.scope_id == "web")]
    assert sum(web["potential_savings"].dropna(), D(0)) == D("214.50")  # the sum, not counted
    # data: db-oracle commitment 8 (> open source 6), db-mysql commitment 12 (> Graviton 6),
    # logs-bucket 19.50 = 39.50
    assert card.loc[("owner", "data"), "potential_savings"] == D("39.50")
    assert card.loc[("microservice", "frontend"), "potential_savings"] == D("87.50")
    assert card.loc[("microservice", "api"), "potential_savings"] == D("21.00")
    assert card.loc[("account", A), "potential_savings"] == D("108.50")
    assert list(card.loc[[("owner", "web"), ("owner", "data")], "rank"]) == [1, 2]


def test_kpis_without_eligible_spend_are_not_applicable(cards: Scorecards) -> None:
    for name in ("graviton_share", "amd_share", "spot_coverage", "previous_generation_share",
                 "compute_on_demand_share", "ebs_gp3_share", "ebs_snapshots_over_1yr"):  # fmt: skip
        row = _row(cards, "owner", "data", name)
        assert pd.isna(row["value"]) and pd.isna(row["score"]), name
        # None in the frame's text column reads NaN; NULL in the snapshot
        assert pd.isna(row["grade"]) and row["eligible_spend"] == 0, name
    for name in ("s3_standard_share", "rds_graviton_share"):
        assert pd.isna(_row(cards, "owner", "web", name)["value"])


def test_goal_overrides_apply_to_their_owner_only(built: dict[str, Path]) -> None:
    goal = "  - id: web\n    kpi_goals: {commitment_coverage: 0.30}\n"
    owners = parse_owners(OWNERS_YAML.replace("  - id: web\n", goal), "owners.yaml")
    goals = {o.id: o.kpi_goals for o in owners.owners.values() if o.kpi_goals}
    assert goals == {"web": {"commitment_coverage": D("0.30")}}
    sc = _cards(built["cur2"], ScorecardInputs(goals=goals))
    web = _row(sc, "owner", "web", "commitment_coverage")
    # 60/230 = 0.2608695652 against 0.30: score 0.8696 (B); at goal 34 x 0.0391304348
    assert web["goal"] == D("0.30") and web["grade"] == "B"
    assert web["score"] == pytest.approx(float(D(60) / D(230)) / 0.3, abs=1e-12)
    assert web["savings_at_goal"] == D("1.3304347832")
    assert _row(sc, "microservice", "api", "commitment_coverage")["goal"] == D("0.30")
    data = _row(sc, "owner", "data", "commitment_coverage")
    assert data["goal"] == D("0.70") and data["savings_at_goal"] == D("14.0000000000")
    assert _row(sc, "account", A, "commitment_coverage")["goal"] == D("0.70")


def test_unknown_kpi_in_kpi_goals_is_a_rule_error_listing_the_names() -> None:
    from costlens.errors import RuleError
    from costlens.scorecards.registry import KPI_NAMES

    text = "owners:\n  - id: web\n    kpi_goals: {graviton_shares: 0.3}\n"
    with pytest.raises(RuleError) as err:
        parse_owners(text, "owners.yaml")
    assert err.value.where == "owners.yaml:3"
    assert "unknown KPI 'graviton_shares'" in err.value.message
    assert err.value.fix == f"use one of: {', '.join(KPI_NAMES)}"


# ---------------------------------------------------------------------------------------------
BAD_METRICS = [
    ("owner,date,metric,value\nweb,2025-06-31,orders,3\n", "2", "date", "is not a date"),
    ("owner,date,metric,value\nweb,2025-06-01,orders,1\nweb,2025-06-02,orders,-1\n", "3",
     "value", "is not a number of zero or more"),
    ("owner,microservice,date,metric,value\nweb,api,2025-06-01,orders,1\n", "2",
     "owner/microservice", "not both"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD_METRICS)
def test_malformed_business_metrics_name_file_line_and_column(
    tmp_path: Path, text: str, line: str, column: str, message: str
) -> None:
    from costlens.errors import ConfigError
    from costlens.scorecards.metrics import load_metrics

    path = tmp_path / "metrics.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_metrics(path)
    assert err.value.where == f"{path}:{line}, column {column}"
    assert message in err.value.message


def test_business_metrics_missing_column(tmp_path: Path) -> None:
    from costlens.errors import ConfigError
    from costlens.scorecards.metrics import load_metrics

    path = tmp_path / "metrics.csv"
    path.write_text("owner,date,metric\nweb,2025-06-01,orders\n")
    with pytest.raises(ConfigError) as err:
        load_metrics(path)
    assert err.value.where == f"{path}:1"
    assert err.value.message == "the header lacks value"


def test_unit_cost_from_business_metrics(built: dict[str, Path], tmp_path: Path) -> None:
    from costlens.scorecards.metrics import load_metrics

    path = tmp_path / "metrics.csv"
    path.write_text(
        "owner,microservice,date,metric,value\n"
        "web,,2025-05-10,orders,120\nweb,,2025-05-20,orders,80\n"
        "web,,2025-06-05,orders,300\nweb,,2025-06-25,orders,342\n"
        ",frontend,2025-06-05,orders,216\n"
    )
    sc = _cards(built["cur2"], ScorecardInputs(metrics=load_metrics(path)))
    row = _row(sc, "owner", "web", "unit_cost")
    # June: 321 / 642 orders = 0.50; May: 40 / 200 = 0.20; trend 0.50 / 0.20 - 1 = 1.5 -> F
    assert row["detail"] == "orders" and row["value"] == 0.5
    assert (row["numerator"], row["denominator"]) == (D(321), D(642))
    assert row["trend"] == pytest.approx(1.5, abs=1e-12) and row["grade"] == "F"
    ms = _row(sc, "microservice", "frontend", "unit_cost")
    assert ms["value"] == 1.0 and pd.isna(ms["trend"])  # 216 / 216; no May metric
    k = sc.kpis
    may = k[(k.billing_period == MAY) & (k.scope_id == "web") & (k.kpi == "unit_cost")]
    assert list(may["value"]) == [0.2] and may["trend"].isna().all()


def test_actions_name_the_resources(cards: Scorecards) -> None:
    got = _jun(cards.actions)
    assert list(got[got.owner == "web"]["text"]) == [
        "frontend: run 2 on-demand instances on Spot (i-0m5intel, i-0m7graviton), about $82/month",
        "api: run 1 on-demand instance on Spot (i-0m5aamd), about $11/month",
        "api: delete or archive 1 snapshot over a year old (snap-0old), about $10/month",
        "frontend: move 1 gp2 volume to gp3 (vol-0gp2), about $5/month",
    ]
    assert list(got[got.owner == "web"]["savings"]) == [D("82.50"), D(11), D(10), D(5)]
    data = got[got.owner == "data"]
    assert list(data["resource_ids"]) == ['["db-mysql", "db-oracle"]', '["logs-bucket"]']
    assert list(data["rank"]) == [1, 2]


def test_utilization_belongs_to_whoever_pays_the_commitment(tmp_path: Path) -> None:
    # May: the data team's account B pays RI ri-2 (fee 100, of which 20 unused); web/api runs
    # on it (effective cost 80). Utilization 80 / (80 + 20) = 0.8 for data (and account B),
    # eligible spend its fee 100; web pays no fee: n/a, not 0 %.
    arn = "arn:aws:ec2:us-east-1:222222222222:reserved-instances/ri-2"
    lines = [
        _ec2(MAY, "i-0onri", "r5.large", "0", "api", line_item_type="DiscountedUsage",
             ri_effective_cost="80.00", public_cost="120.00", pricing_term="Reserved",
             reservation_arn=arn),
        KpiLine(MAY, "ri-2", "100.00", account=B, line_item_type="RIFee",
                usage_type="USE1-HeavyUsage:r5.large", operation="RunInstances",
                ri_unused_recurring="20.00", pricing_term="Reserved", reservation_arn=arn,
                tags={"app": "warehouse"}),
    ]  # fmt: skip
    write_export(tmp_path / "export", "cur2", lines)
    data = tmp_path / "data"
    ingest(Settings(data_dir=data), str(tmp_path / "export"))
    with open_warehouse(data) as wh:
        attribute(wh, parse_rules(RULES_YAML, "rules.yaml", parse_owners(OWNERS_YAML, "o.yaml")))
    sc = _cards(data)
    for scope, scope_id in (("owner", "data"), ("microservice", "warehouse"), ("account", B)):
        row = _row(sc, scope, scope_id, "commitment_utilization", MAY)
        assert row["value"] == pytest.approx(0.8) and row["grade"] == "B", (scope, row)
        assert row["eligible_spend"] == D("100") and row["potential_savings"] is None
        assert row["denominator"] == D("100") and row["numerator"] == D("80")
    for scope, scope_id in (("owner", "web"), ("account", A)):
        row = _row(sc, scope, scope_id, "commitment_utilization", MAY)
        assert row["value"] is None or row["value"] != row["value"], (scope, row)  # n/a
        assert row["grade"] is None or row["grade"] != row["grade"]


def test_the_refresh_rewrites_only_the_periods_attribute_changed(
    built: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from costlens.scorecards.facts import ensure_facts

    data = tmp_path / "data"
    shutil.copytree(built["cur2"], data, ignore=shutil.ignore_patterns("*.lock"))
    whole = _cards(data)
    rules = parse_rules(RULES_YAML, "rules.yaml", parse_owners(OWNERS_YAML, "o.yaml"))
    with open_warehouse(data) as wh:
        before = wh.con.execute("SELECT * FROM kpi_facts WHERE billing_period = $p ORDER BY ALL",
                                {"p": APR}).fetchall()  # fmt: skip
        attribute(wh, rules, periods=[JUN])  # marks June stale, leaves the rest
        stale = {r[0] for r in wh.con.execute("SELECT billing_period FROM kpi_periods").fetchall()}
        assert JUN not in stale and APR in stale
        assert ensure_facts(wh.con)
        assert wh.con.execute("SELECT * FROM kpi_facts WHERE billing_period = $p ORDER BY ALL",
                              {"p": APR}).fetchall() == before  # fmt: skip
    again = _cards(data)
    for a, b in zip(_frames(whole), _frames(again), strict=True):
        pd.testing.assert_frame_equal(a, b)
    with open_warehouse(data) as wh:  # a period no allocation holds any more is dropped
        wh.con.execute("DELETE FROM allocations WHERE billing_period = $p", {"p": APR})
        assert ensure_facts(wh.con)
        left = wh.con.execute("SELECT count(*) FROM kpi_facts WHERE billing_period = $p",
                              {"p": APR}).fetchone()  # fmt: skip
    assert left == (0,)
    assert APR not in set(_cards(data).cards["billing_period"])
