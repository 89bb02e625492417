"""The sample's product attributes (what AWS's KPI dashboards read), per format, and the owners'
efficiency make-up they are meant to show (docs/sample-data.md, "Efficiency").

The files are read directly with DuckDB, in each format's own spelling, not through ingest.
"""

from __future__ import annotations

import dataclasses
import gzip
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime

import duckdb
import pytest

from costlens.sample import company as co
from costlens.sample import generate_sample
from costlens.sample.generate import SampleResult
from costlens.sample.labels import choose_targets
from costlens.sample.meters import Meter, build_meters, expected_cost

END = date(2024, 3, 1)
ARGS = {"months": 2, "seed": 10, "scale": 0.5, "end_month": END}
"""Small, yet every product story is in it: Graviton, AMD and previous-generation instances,
Spot, gp2 and gp3, S3 Standard and Intelligent-Tiering, SQL Server and Oracle."""
HISTORY = (datetime(2024, 2, 1), datetime(2024, 4, 1))
ATTRIBUTES = (
    "volume_api_name",
    "volume_type",
    "storage_class",
    "database_engine",
    "license_model",
    "operating_system",
    "physical_processor",
)
"""Canonical names = CUR 2.0 ``product`` map keys."""
LEGACY = {
    "volume_api_name": "product/volumeApiName",
    "volume_type": "product/volumeType",
    "storage_class": "product/storageClass",
    "database_engine": "product/databaseEngine",
    "license_model": "product/licenseModel",
    "operating_system": "product/operatingSystem",
    "physical_processor": "product/physicalProcessor",
    "savings_plan_offering_type": "savingsPlan/OfferingType",
}
ATHENA = {
    "volume_api_name": "product_volume_api_name",
    "volume_type": "product_volume_type",
    "storage_class": "product_storage_class",
    "database_engine": "product_database_engine",
    "license_model": "product_license_model",
    "operating_system": "product_operating_system",
    "physical_processor": "product_physical_processor",
    "savings_plan_offering_type": "savings_plan_offering_type",
}
PREVIOUS_INTEL = {
    "Intel Xeon E5-2676 v3 (Haswell)",
    "Intel Xeon E5-2666 v3 (Haswell)",
    "Intel Xeon E5-2670 v2 (Ivy Bridge)",
    "Intel Xeon E5-2680 v2 (Ivy Bridge)",
}
INT = "Intelligent-Tiering"
GRAVITON = {"AWS Graviton2 Processor", "AWS Graviton3 Processor"}
AMD = {"AMD EPYC 7571", "AMD EPYC 7R13 Processor"}
CURRENT_INTEL = {"Intel Xeon 8375C (Ice Lake)", "Intel Xeon Platinum 8175"}
SPELLINGS = {
    "physical_processor": PREVIOUS_INTEL | GRAVITON | AMD | CURRENT_INTEL,
    "volume_api_name": {"gp2", "gp3"},
    "volume_type": {
        "General Purpose",  # EBS gp2 and gp3
        "Standard",
        "Standard - Infrequent Access",
        "Amazon Glacier",
        "Intelligent-Tiering Frequent Access",
        "Intelligent-Tiering Infrequent Access",
        "IntelligentTieringArchiveAccess",
    },
    "storage_class": {"General Purpose", "Infrequent Access", "Archive", "Intelligent-Tiering"},
    "database_engine": {"PostgreSQL", "MySQL", "SQL Server", "Oracle"},
    "license_model": {"No license required", "License included"},
    "operating_system": {"Linux"},
    "savings_plan_offering_type": {"ComputeSavingsPlans"},
}
"""Every value the sample writes, as AWS spells it (written out here, not imported)."""


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleResult]:
    root = tmp_path_factory.mktemp("attributes")
    return {
        fmt: generate_sample(root / fmt, format=fmt, **ARGS)  # type: ignore[arg-type]
        for fmt in ("cur2", "cur1-csv", "cur1-parquet", "focus")
    }


def _files(result: SampleResult, suffix: str) -> list[str]:
    return [str(p) for p in result.files if p.name.endswith(suffix)]


def _cur2(result: SampleResult) -> str:
    return f"read_parquet({_files(result, '.parquet')})"


def _lines(con: duckdb.DuckDBPyConnection, sql: str) -> Counter[tuple[str, ...]]:
    return Counter(tuple(str(v) for v in row) for row in con.execute(sql).fetchall())


def _cur2_lines(con: duckdb.DuckDBPyConnection, result: SampleResult) -> Counter[tuple[str, ...]]:
    attrs = ", ".join(f"COALESCE(product['{a}'], '')" for a in ATTRIBUTES)
    return _lines(
        con,
        f"SELECT identity_line_item_id, line_item_resource_id, {attrs}, "
        f"savings_plan_offering_type FROM {_cur2(result)}",
    )


def _legacy_lines(
    con: duckdb.DuckDBPyConnection, source: str, names: dict[str, str], line_id: str
) -> Counter[tuple[str, ...]]:
    attrs = ", ".join(
        f"COALESCE(\"{names[a]}\", '')" for a in (*ATTRIBUTES, "savings_plan_offering_type")
    )
    resource = "lineItem/ResourceId" if line_id.startswith("identity/") else "line_item_resource_id"
    return _lines(con, f'SELECT "{line_id}", COALESCE("{resource}", \'\'), {attrs} FROM {source}')


@pytest.mark.slow
def test_cur2_product_map_holds_only_the_attributes_a_product_has(
    samples: dict[str, SampleResult],
) -> None:
    con = duckdb.connect()
    data = _cur2(samples["cur2"])
    keys = {
        k
        for (k,) in con.execute(f"SELECT DISTINCT unnest(map_keys(product)) FROM {data}").fetchall()
    }
    assert keys == {
        "servicename",
        "product_name",
        "region",
        "product_family",
        "instance_type",
        *ATTRIBUTES,
    }
    for attribute in ATTRIBUTES:
        values = {
            v
            for (v,) in con.execute(
                f"SELECT DISTINCT product['{attribute}'] AS v FROM {data} WHERE v IS NOT NULL"
            ).fetchall()
        }
        assert values <= SPELLINGS[attribute], attribute
        assert "" not in values, f"{attribute}: an empty attribute is left out of the map"
    # Savings Plan lines carry the offering type in their own column, '' elsewhere.
    rows = con.execute(f"""
        SELECT line_item_line_item_type, savings_plan_offering_type, count(*) FROM {data}
        WHERE savings_plan_savings_plan_a_r_n <> '' OR savings_plan_offering_type <> ''
        GROUP BY ALL ORDER BY ALL""").fetchall()
    assert [(t, o) for t, o, _ in rows] == [
        ("SavingsPlanCoveredUsage", "ComputeSavingsPlans"),
        ("SavingsPlanNegation", "ComputeSavingsPlans"),
        ("SavingsPlanRecurringFee", "ComputeSavingsPlans"),
    ]


@pytest.mark.slow
def test_attributes_follow_the_line_in_cur2(samples: dict[str, SampleResult]) -> None:
    """Instances carry OS and processor, volumes their API name, buckets their class, databases
    engine and license; nothing else carries any."""
    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT line_item_product_code, product_product_family,
               regexp_replace(line_item_usage_type, '^USW2-', '') AS usage_type,
               product_instance_type,
               {", ".join(f"COALESCE(product['{a}'], '') AS {a}" for a in ATTRIBUTES)}
        FROM {_cur2(samples["cur2"])}
        WHERE line_item_line_item_type NOT IN ('Tax', 'Credit', 'Refund')
        GROUP BY ALL""").fetchall()
    seen: dict[str, set[str]] = defaultdict(set)
    for code, family, usage_type, itype, vol, vtype, sclass, engine, lic, os_, cpu in rows:
        seen["physical_processor"].add(cpu)
        if code == "AmazonEC2" and family == "Compute Instance":
            assert (os_, vol, sclass, engine) == ("Linux", "", "", ""), usage_type
            assert cpu in SPELLINGS["physical_processor"], itype
        elif usage_type.startswith("EBS:VolumeUsage."):
            assert (vol, vtype) == (usage_type.rsplit(".", 1)[1], "General Purpose")
            assert (os_, cpu, sclass) == ("", "", "")
        elif code == "AmazonS3" and usage_type.startswith("TimedStorage-"):
            expected = {
                "TimedStorage-ByteHrs": ("General Purpose", "Standard"),
                "TimedStorage-SIA-ByteHrs": ("Infrequent Access", "Standard - Infrequent Access"),
                "TimedStorage-GlacierByteHrs": ("Archive", "Amazon Glacier"),
                "TimedStorage-INT-FA-ByteHrs": (INT, "Intelligent-Tiering Frequent Access"),
                "TimedStorage-INT-IA-ByteHrs": (INT, "Intelligent-Tiering Infrequent Access"),
                "TimedStorage-INT-AA-ByteHrs": (INT, "IntelligentTieringArchiveAccess"),
            }  # fmt: skip
            assert (sclass, vtype) == expected[usage_type]
        elif code == "AmazonRDS" and family == "Database Instance":
            assert (engine, lic, os_) == {
                "Multi-AZUsage:db.r6g.2xlarge": ("PostgreSQL", "No license required", ""),
                "InstanceUsage:db.r6g.xlarge": ("MySQL", "No license required", ""),
                "InstanceUsage:db.m5.2xlarge": ("SQL Server", "License included", ""),
                "InstanceUsage:db.m5.xlarge": ("Oracle", "License included", ""),
            }[usage_type]
            assert cpu == (
                "AWS Graviton2 Processor" if ".r6g." in itype else "Intel Xeon Platinum 8175"
            )
        else:
            assert (vol, vtype, sclass, engine, lic, os_, cpu) == ("",) * 7, (code, usage_type)
    # The sample is meant to show every kind of processor the KPIs count.
    for kind in (PREVIOUS_INTEL, GRAVITON, AMD, CURRENT_INTEL):
        assert seen["physical_processor"] & kind, kind


@pytest.mark.slow
def test_legacy_csv_and_parquet_spell_the_columns_as_aws_does(
    samples: dict[str, SampleResult],
) -> None:
    feb, mar = _files(samples["cur1-csv"], ".csv.gz")
    headers = []
    for path in (feb, mar):
        with gzip.open(path, "rt") as f:
            headers.append(f.readline().rstrip("\n").split(","))
    product = [v for k, v in LEGACY.items() if k != "savings_plan_offering_type"]
    for header in headers:
        assert set(product) <= set(header)
    # savingsPlan/* columns only in months with Savings Plan lines (they start on 10 March).
    assert "savingsPlan/OfferingType" not in headers[0]
    assert "savingsPlan/OfferingType" in headers[1]
    con = duckdb.connect()
    first = _files(samples["cur1-parquet"], "00001.snappy.parquet")
    names = {
        r[0]
        for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({first}, union_by_name = true)"
        ).fetchall()
    }
    assert set(ATHENA.values()) <= names
    assert con.execute(
        f"SELECT count(*) FROM read_parquet({first}, union_by_name = true) "
        "WHERE product_physical_processor IS NULL"
    ).fetchone() == (0,)


@pytest.mark.slow
def test_every_attribute_is_the_same_in_cur2_and_both_legacy_formats(
    samples: dict[str, SampleResult],
) -> None:
    con = duckdb.connect()
    cur2 = _cur2_lines(con, samples["cur2"])
    csv = _legacy_lines(
        con,
        f"read_csv({_files(samples['cur1-csv'], '.csv.gz')}, all_varchar = true, "
        "union_by_name = true)",
        LEGACY,
        "identity/LineItemId",
    )
    parquet = _legacy_lines(
        con,
        f"read_parquet({_files(samples['cur1-parquet'], '.snappy.parquet')}, union_by_name = true)",
        ATHENA,
        "identity_line_item_id",
    )
    assert sum(cur2.values()) == samples["cur2"].line_items
    assert csv == cur2
    assert parquet == cur2
    # Per (resource, attribute): the same multiset everywhere, and each value spelled as AWS does.
    for i, attribute in enumerate((*ATTRIBUTES, "savings_plan_offering_type"), start=2):
        values = {key[i] for key in cur2} - {""}
        assert values <= SPELLINGS[attribute], attribute
        assert values, f"no line carries {attribute}"


@pytest.mark.slow
def test_focus_has_no_product_attributes_but_names_the_commitment(
    samples: dict[str, SampleResult],
) -> None:
    con = duckdb.connect()
    data = f"read_parquet({_files(samples['focus'], '.parquet')})"
    names = {r[0].lower() for r in con.execute(f"DESCRIBE SELECT * FROM {data}").fetchall()}
    for word in (
        "processor",
        "volume",
        "storageclass",
        "engine",
        "license",
        "operatingsystem",
        "offering",
    ):
        assert not [n for n in names if word in n.replace("_", "")], word
    arns = con.execute(f"""
        SELECT DISTINCT CommitmentDiscountType, split_part(CommitmentDiscountId, ':', 3)
        FROM {data} WHERE CommitmentDiscountId IS NOT NULL ORDER BY 1""").fetchall()
    assert arns == [("Reserved Instance", "ec2"), ("Savings Plan", "savingsplans")]


# The owners' make-up, on the meters (no files): by construction, whatever the seed.


def _meters(seed: int, scale: float = 1.0) -> list[Meter]:
    targets = choose_targets(seed)
    forced = frozenset(targets.values()) | {co.NEW_MICROSERVICE, co.RETIRED_MICROSERVICE}
    return build_meters(seed, scale, *HISTORY, forced)


def _instances(meters: list[Meter], owner: str) -> Iterator[Meter]:
    return (
        m for m in meters if m.owner == owner and m.service_code == "AmazonEC2" and m.instance_type
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_each_owner_has_the_fleet_its_story_says(seed: int) -> None:
    meters = _meters(seed)
    catalog = [m for m in _instances(meters, "catalog") if m.microservice == "inventory"]
    assert all(m.physical_processor in PREVIOUS_INTEL for m in catalog)
    assert {
        m.volume_api_name for m in meters if m.microservice == "inventory" and m.volume_api_name
    } <= {"gp2"}
    search = list(_instances(meters, "search"))
    assert all(m.physical_processor in GRAVITON for m in search if m.purchase_option != "Spot")
    assert {m.volume_api_name for m in meters if m.owner == "search" and m.volume_api_name} <= {
        "gp3"
    }
    fulfillment = list(_instances(meters, "fulfillment"))
    assert all(m.physical_processor in AMD | PREVIOUS_INTEL for m in fulfillment)
    amd_owners = {
        m.owner for m in meters if m.physical_processor in AMD and m.service_code == "AmazonEC2"
    }
    assert amd_owners <= {"fulfillment"}
    tiered = {m.owner for m in meters if m.storage_class == "Intelligent-Tiering"}
    assert tiered <= {"search", "data-platform", "platform"}
    for owner in ("search", "data-platform"):
        assert not [m for m in meters if m.owner == owner and m.volume_type == "Standard"]
    licensed = {(m.owner, m.database_engine, m.license_model) for m in meters if m.database_engine}
    assert {(o, e) for o, e, lic in licensed if lic != "No license required"} <= {
        ("catalog", "SQL Server"),
        ("payments", "Oracle"),
    }


Test = Callable[[Meter], bool]


def _share(meters: list[Meter], owner: str, eligible: Test, good: Test) -> float | None:
    """Expected-cost share of ``owner``'s ``eligible`` meters that are ``good``."""
    total = hits = 0.0
    for m in meters:
        if m.owner == owner and eligible(m):
            cost = expected_cost(m, *HISTORY)
            total += cost
            hits += cost if good(m) else 0.0
    return hits / total if total else None


def test_the_demo_owners_grade_differently_for_visible_reasons() -> None:
    """At the demo's size (scale 1, seed 1) the KPIs the scorecards grade spread the owners."""
    meters = _meters(1)

    def ec2(m: Meter) -> bool:
        return (
            m.service_code == "AmazonEC2"
            and m.product_family == "Compute Instance"
            and m.owner != ""
        )

    def on_demand(m: Meter) -> bool:
        return ec2(m) and m.purchase_option == "OnDemand"

    def share(owner: str, eligible: Test, good: Test) -> float:
        value = _share(meters, owner, eligible, good)
        assert value is not None, owner
        return value

    def gp3(m: Meter) -> bool:
        return m.volume_api_name == "gp3"

    def s3_standard(m: Meter) -> bool:
        return m.volume_type == "Standard"

    def s3(m: Meter) -> bool:
        return m.service_code == "AmazonS3" and m.storage_class != ""

    def graviton(m: Meter) -> bool:
        return "Graviton" in m.physical_processor

    def previous(m: Meter) -> bool:
        return m.physical_processor in PREVIOUS_INTEL

    def rds(m: Meter) -> bool:
        return m.database_engine != ""

    def open_source(m: Meter) -> bool:
        return m.license_model == "No license required"

    # catalog: all previous-generation Intel on gp2, S3 Standard with lifecycle rules.
    assert share("catalog", on_demand, previous) == 1.0
    assert share("catalog", ec2, graviton) == 0.0
    assert share("catalog", lambda m: m.volume_api_name != "", gp3) == 0.0
    assert share("catalog", s3, s3_standard) > 0.7
    # payments: the licensed Oracle beside its PostgreSQL; identity, checkout: open source only.
    assert share("payments", rds, open_source) < 0.9
    assert share("checkout", rds, open_source) == 1.0
    # search: Graviton on demand, Spot for batch, gp3, Intelligent-Tiering.
    assert share("search", on_demand, graviton) == 1.0
    assert share("search", ec2, lambda m: m.purchase_option == "Spot") > 0.05
    assert share("search", lambda m: m.volume_api_name != "", gp3) == 1.0
    assert share("search", s3, s3_standard) == 0.0
    # fulfillment: AMD instead of Ice Lake; data-platform: Spot and tiered S3, old on-demand boxes.
    assert share("fulfillment", on_demand, lambda m: "AMD" in m.physical_processor) > 0.3
    assert share("data-platform", ec2, lambda m: m.purchase_option == "Spot") > 0.3
    assert share("data-platform", s3, s3_standard) == 0.0
    assert share("data-platform", on_demand, previous) > 0.5


def test_styles_rename_products_but_move_no_amount(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every microservice back to the mixed fleet and lifecycle S3, each meter has the same
    account, resource, tags, rates, amounts, coverage and life: only names differ."""
    styled = _meters(1)
    plain = tuple(
        dataclasses.replace(ms, ec2_fleet="mixed", s3_classes="lifecycle")
        for ms in co.MICROSERVICES
    )
    monkeypatch.setattr(co, "MICROSERVICES", plain)
    unstyled = _meters(1)
    assert len(styled) == len(unstyled)
    same = ("meter_id", "account_id", "resource_id", "tags", "list_rate", "rate", "base_amount",
            "profile", "sp_covered", "ri_covered", "active_from", "active_to",
            "purchase_option")  # fmt: skip
    renamed = 0
    for a, b in zip(styled, unstyled, strict=True):
        assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]
        renamed += a.usage_type != b.usage_type
    assert renamed > 20


@pytest.mark.parametrize("fmt", ["cur2", "cur1-parquet", "focus"])
def test_every_parquet_column_is_nullable_as_aws_writes_it(
    samples: dict[str, SampleResult], fmt: str
) -> None:
    # DuckDB marks a column it can prove NULL-free as required; AWS's are all optional, and a
    # reader (or a test) that blanks a value must be able to (costlens.sample.manifests)
    import pyarrow.parquet as pq

    files = [p for p in samples[fmt].files if p.name.endswith(".parquet")]
    assert files
    for path in files:
        schema = pq.read_schema(path)
        required = [f.name for f in schema if not f.nullable]
        assert required == [], (path.name, required)
