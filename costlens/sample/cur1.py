# ruff: noqa: E501
"""Legacy Cost and Usage Report: gzip CSV (``category/Name`` headers) or Parquet (Athena names).

Layout (CREATE_NEW, the default): ``<OUT>/<report>/yyyymmdd-yyyymmdd/<assemblyId>/`` holds the
data files and the assembly's manifest; ``<OUT>/<report>/yyyymmdd-yyyymmdd/<report>-Manifest.json``
points at the latest assembly. OVERWRITE: the data files sit directly in the period folder and a
restatement replaces them. Columns follow the month: ``savingsPlan/*`` only in months with Savings
Plan line items, one ``resourceTags/user:<key>`` column per tag key seen in the month.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import duckdb

from costlens.progress import Task
from costlens.sample.hourly import PRODUCT_SERVICENAME_SQL
from costlens.sample.manifests import (
    Delivery,
    copy_to_file,
    nullable_parquet_columns,
    write_json,
)

__all__ = ["athena_name", "legacy_columns", "write_cur1_csv_period", "write_cur1_parquet_period"]

_TS = "strftime({c}, '%Y-%m-%dT%H:%M:%S.000Z')"

# (legacy column, canon expression, manifest type); money as exact decimal text.
_BASE: tuple[tuple[str, str, str], ...] = (
    ("identity/LineItemId", "line_item_id", "String"),
    ("identity/TimeInterval", "time_interval", "Interval"),
    ("bill/InvoiceId", "invoice_id", "String"),
    ("bill/InvoicingEntity", "'Amazon Web Services, Inc.'", "String"),
    ("bill/BillingEntity", "'AWS'", "String"),
    ("bill/BillType", "'Anniversary'", "String"),
    ("bill/PayerAccountId", "payer_account_id", "String"),
    ("bill/BillingPeriodStartDate", _TS.format(c="billing_period"), "DateTime"),
    ("bill/BillingPeriodEndDate", _TS.format(c="billing_period_end"), "DateTime"),
    ("lineItem/UsageAccountId", "account_id", "String"),
    ("lineItem/LineItemType", "line_item_type", "String"),
    ("lineItem/UsageStartDate", _TS.format(c="usage_start"), "DateTime"),
    ("lineItem/UsageEndDate", _TS.format(c="usage_end"), "DateTime"),
    ("lineItem/ProductCode", "service_code", "String"),
    ("lineItem/UsageType", "usage_type", "String"),
    ("lineItem/Operation", "operation", "String"),
    ("lineItem/AvailabilityZone", "''", "String"),
    ("lineItem/ResourceId", "resource_id", "String"),
    ("lineItem/UsageAmount", "usage_amount", "OptionalBigDecimal"),
    ("lineItem/CurrencyCode", "'USD'", "String"),
    ("lineItem/UnblendedRate", "unblended_rate", "OptionalBigDecimal"),
    ("lineItem/UnblendedCost", "unblended_cost", "OptionalBigDecimal"),
    ("lineItem/BlendedRate", "unblended_rate", "OptionalBigDecimal"),
    ("lineItem/BlendedCost", "unblended_cost", "OptionalBigDecimal"),
    ("lineItem/LineItemDescription", "description", "String"),
    ("lineItem/LegalEntity", "'Amazon Web Services, Inc.'", "String"),
    ("product/ProductName", "service_name", "String"),
    ("product/databaseEngine", "database_engine", "String"),
    ("product/instanceType", "instance_type", "String"),
    ("product/licenseModel", "license_model", "String"),
    ("product/operatingSystem", "operating_system", "String"),
    ("product/physicalProcessor", "physical_processor", "String"),
    ("product/productFamily", "product_family", "String"),
    ("product/region", "region", "String"),
    ("product/servicecode", "service_code", "String"),
    ("product/servicename", PRODUCT_SERVICENAME_SQL, "String"),
    ("product/storageClass", "storage_class", "String"),
    ("product/usagetype", "usage_type", "String"),
    ("product/volumeApiName", "volume_api_name", "String"),
    ("product/volumeType", "volume_type", "String"),
    ("pricing/OfferingClass", "pricing_offering_class", "String"),
    ("pricing/publicOnDemandCost", "list_cost", "OptionalBigDecimal"),
    ("pricing/publicOnDemandRate", "list_rate", "OptionalBigDecimal"),
    ("pricing/term", "pricing_term", "String"),
    ("pricing/unit", "pricing_unit", "String"),
    ("reservation/AmortizedUpfrontCostForUsage", "reservation_amortized_upfront_cost_for_usage", "OptionalBigDecimal"),
    ("reservation/AmortizedUpfrontFeeForBillingPeriod", "reservation_amortized_upfront_fee_for_billing_period", "OptionalBigDecimal"),
    ("reservation/EffectiveCost", "reservation_effective_cost", "OptionalBigDecimal"),
    ("reservation/RecurringFeeForUsage", "reservation_recurring_fee_for_usage", "OptionalBigDecimal"),
    ("reservation/ReservationARN", "COALESCE(reservation_arn, '')", "String"),
    ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod", "reservation_unused_amortized_upfront_fee_for_billing_period", "OptionalBigDecimal"),
    ("reservation/UnusedQuantity", "reservation_unused_quantity", "OptionalBigDecimal"),
    ("reservation/UnusedRecurringFee", "reservation_unused_recurring_fee", "OptionalBigDecimal"),
    ("reservation/UpfrontValue", "reservation_upfront_value", "OptionalBigDecimal"),
)  # fmt: skip
_SAVINGS_PLAN: tuple[tuple[str, str, str], ...] = (
    ("savingsPlan/TotalCommitmentToDate", "savings_plan_total_commitment_to_date", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanARN", "COALESCE(savings_plan_arn, '')", "String"),
    ("savingsPlan/OfferingType", "savings_plan_offering_type", "String"),
    ("savingsPlan/SavingsPlanRate", "savings_plan_rate", "OptionalBigDecimal"),
    ("savingsPlan/UsedCommitment", "savings_plan_used_commitment", "OptionalBigDecimal"),
    ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_effective_cost", "OptionalBigDecimal"),
    ("savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod", "savings_plan_amortized_upfront_commitment_for_billing_period", "OptionalBigDecimal"),
    ("savingsPlan/RecurringCommitmentForBillingPeriod", "savings_plan_recurring_commitment_for_billing_period", "OptionalBigDecimal"),
)  # fmt: skip

_HAS_SP_SQL = "SELECT count(*) > 0 FROM sp_fees"
_TAG_KEYS_SQL = """
SELECT DISTINCT unnest(map_keys(m.tags)) AS k FROM meters m, period p
WHERE m.active_from < p.period_end AND m.active_to > p.period_start ORDER BY k
"""


def athena_name(legacy: str) -> str:
    """The Athena/Parquet column name of a legacy CUR column.

    >>> athena_name("reservation/ReservationARN")
    'reservation_reservation_a_r_n'
    >>> athena_name("resourceTags/user:Team")
    'resource_tags_user_team'
    """
    spaced = re.sub(r"([A-Z])", r"_\1", legacy).lower()
    return re.sub(r"[^a-z0-9]+", "_", spaced).strip("_").replace("__", "_")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def legacy_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """The (legacy name, canon expression, type) columns of the period prepared in ``con``."""
    cols = list(_BASE)
    row = con.execute(_HAS_SP_SQL).fetchone()
    if row and row[0]:
        cols += _SAVINGS_PLAN
    for (key,) in con.execute(_TAG_KEYS_SQL).fetchall():
        cols.append((f"resourceTags/user:{key}", f"COALESCE(tags[{_literal(key)}], '')", "String"))
    return cols


def _csv_projection(cols: list[tuple[str, str, str]]) -> str:
    # DuckDB de-duplicates names case-insensitively (user:Team vs user:team): the real header
    # is written by _gzip_with_header.
    return ", ".join(f'{expr} AS "c{i}"' for i, (_, expr, _) in enumerate(cols))


def _gzip_with_header(plain: Path, header: list[str], path: Path) -> None:
    """``path`` = gzip(header line + ``plain``), with no timestamp so the bytes are stable."""
    line = ",".join(f'"{h}"' if "," in h else h for h in header) + "\n"
    with (
        plain.open("rb") as src,
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        gz.write(line.encode())
        shutil.copyfileobj(src, gz, 1 << 20)
    plain.unlink()


def _parquet_projection(cols: list[tuple[str, str, str]]) -> str:
    merged: dict[str, list[str]] = {}
    for name, expr, _ in cols:
        merged.setdefault(athena_name(name), []).append(expr)
    parts = []
    for name, exprs in merged.items():
        if len(exprs) > 1:  # tag keys differing only in case share one Athena column
            inner = ", ".join(f"NULLIF({e}, '')" for e in exprs)
            exprs = [f"COALESCE({inner}, '')"]
        parts.append(f'{exprs[0]} AS "{name}"')
    return ", ".join(parts)


def _write(
    con: duckdb.DuckDBPyConnection, out: Path, delivery: Delivery, task: Task, parquet: bool
) -> tuple[list[Path], int]:
    end = delivery.period_end
    period_dir = out / delivery.export / f"{delivery.period:%Y%m%d}-{end:%Y%m%d}"
    assembly = delivery.delivery_id
    if delivery.overwrite:
        data_dir = period_dir
        for stale in (
            sorted(period_dir.glob(f"{delivery.export}-0*")) if period_dir.is_dir() else []
        ):
            stale.unlink()
    else:
        data_dir = period_dir / assembly
        if data_dir.exists():
            shutil.rmtree(data_dir)
    cols = legacy_columns(con)
    if parquet:
        projection, options = _parquet_projection(cols), "FORMAT parquet, COMPRESSION snappy"
        suffix = ".snappy.parquet"
    else:
        projection, options = _csv_projection(cols), "FORMAT csv, HEADER false"
        suffix = ".csv.gz"
    files: list[Path] = []
    rows = 0
    for n in range(delivery.files):
        path = data_dir / f"{delivery.export}-{n + 1:05d}{suffix}"
        if parquet:
            rows += copy_to_file(con, projection, path, options, n)
        else:
            plain = path.with_name(path.name + ".plain")
            rows += copy_to_file(con, projection, plain, options, n)
            _gzip_with_header(plain, [name for name, _, _ in cols], path)
        files.append(path)
        task.advance()
    base = f"{delivery.export}/{period_dir.name}"
    keys = [f"{base}/{p.relative_to(period_dir).as_posix()}" for p in files]
    manifest = {
        "assemblyId": assembly,
        "account": "210987654300",
        "reportId": delivery.export,
        "reportName": delivery.export,
        "bucket": "",
        "reportKeys": keys,
        "additionalArtifactKeys": [],
        "billingPeriod": {
            "start": f"{delivery.period:%Y%m%d}T000000.000Z",
            "end": f"{end:%Y%m%d}T000000.000Z",
        },
        "charset": "UTF-8",
        "compression": "Parquet" if parquet else "GZIP",
        "contentType": "application/x-parquet" if parquet else "text/csv",
        "columns": [
            {"category": name.split("/", 1)[0], "name": name.split("/", 1)[1], "type": typ}
            for name, _, typ in cols
        ],
    }
    name = f"{delivery.export}-Manifest.json"
    if not delivery.overwrite:
        files.append(write_json(data_dir / name, manifest))
    files.append(write_json(period_dir / name, manifest))
    if parquet:
        status = out / delivery.export / "cost_and_usage_data_status"
        status.mkdir(parents=True, exist_ok=True)
        path = status / "cost_and_usage_data_status.parquet"
        with nullable_parquet_columns(con):
            con.execute(f"COPY (SELECT 'READY' AS status) TO '{_quote(path)}' (FORMAT parquet)")
        if path not in files:
            files.append(path)
    return files, rows


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def write_cur1_csv_period(
    con: duckdb.DuckDBPyConnection, out: Path, delivery: Delivery, task: Task
) -> tuple[list[Path], int]:
    """Write one delivery of one period as legacy CUR gzip CSV; the files written and rows."""
    return _write(con, out, delivery, task, parquet=False)


def write_cur1_parquet_period(
    con: duckdb.DuckDBPyConnection, out: Path, delivery: Delivery, task: Task
) -> tuple[list[Path], int]:
    """Write one delivery of one period as legacy CUR Parquet; the files written and rows."""
    return _write(con, out, delivery, task, parquet=True)
