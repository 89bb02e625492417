# ruff: noqa: E501
"""The canonical line items of one billing period, built in DuckDB; every format projects them.

``prepare_period`` registers, in a DuckDB connection, the view ``canon`` holding every line item
of one billing period with the superset of columns the formats need (AWS CUR 2.0 names), plus
internal columns: ``microservice``, ``baseline_cost`` (the cost without injected anomalies),
``file_no`` (which data file of the period the line goes to) and the per-format spellings of the
tags and product (``cur2_resource_tags``, ``focus_tags``, ``cur2_product``, ``time_interval``).
Hourly usage is the meters crossed with the hours (``costlens.sample.hourly``: vectorized; noise
is a hash of the seed, meter and hour, so it is deterministic); the few monthly lines
(reservation fees, credits, refunds, support, tax) are computed in Python with exact decimals
(``costlens.sample.fixed_lines``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb

from costlens.sample import catalog as cat
from costlens.sample import company as co
from costlens.sample.catalog import RI_RECURRING_HOURLY, RI_UPFRONT_HOURLY, SP_DISCOUNT
from costlens.sample.fixed_lines import _uuid, fixed_lines, support_and_tax
from costlens.sample.hourly import (
    CUR2_PRODUCT_SQL,
    CUR2_TAGS_SQL,
    FOCUS_TAGS_SQL,
    TIME_INTERVAL_SQL,
    prepare_hourly,
)
from costlens.sample.meters import Meter
from costlens.sample.tables import create_temp_table

__all__ = [
    "CANON_COLUMNS",
    "Commitments",
    "PeriodPlan",
    "PeriodTotals",
    "commitments_for",
    "prepare_period",
]

MONEY = "DECIMAL(18,10)"
CANON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("billing_period", "DATE"), ("billing_period_end", "DATE"),
    ("usage_start", "TIMESTAMP"), ("usage_end", "TIMESTAMP"),
    ("payer_account_id", "VARCHAR"), ("payer_account_name", "VARCHAR"),
    ("account_id", "VARCHAR"), ("account_name", "VARCHAR"), ("invoice_id", "VARCHAR"),
    ("line_item_id", "VARCHAR"), ("line_item_type", "VARCHAR"),
    ("service_code", "VARCHAR"), ("service_name", "VARCHAR"), ("product_family", "VARCHAR"),
    ("region", "VARCHAR"), ("usage_type", "VARCHAR"), ("operation", "VARCHAR"),
    ("resource_id", "VARCHAR"), ("instance_type", "VARCHAR"), ("volume_api_name", "VARCHAR"),
    ("volume_type", "VARCHAR"), ("storage_class", "VARCHAR"), ("database_engine", "VARCHAR"),
    ("license_model", "VARCHAR"), ("operating_system", "VARCHAR"),
    ("physical_processor", "VARCHAR"), ("purchase_option", "VARCHAR"),
    ("pricing_term", "VARCHAR"), ("pricing_offering_class", "VARCHAR"),
    ("usage_amount", "DOUBLE"), ("pricing_unit", "VARCHAR"),
    ("unblended_rate", MONEY), ("unblended_cost", MONEY), ("list_rate", MONEY),
    ("list_cost", MONEY), ("description", "VARCHAR"), ("tags", "MAP(VARCHAR, VARCHAR)"),
    ("reservation_arn", "VARCHAR"), ("reservation_effective_cost", MONEY),
    ("reservation_recurring_fee_for_usage", MONEY),
    ("reservation_amortized_upfront_cost_for_usage", MONEY),
    ("reservation_amortized_upfront_fee_for_billing_period", MONEY),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", MONEY),
    ("reservation_unused_recurring_fee", MONEY), ("reservation_unused_quantity", "DOUBLE"),
    ("reservation_upfront_value", MONEY),
    ("savings_plan_arn", "VARCHAR"), ("savings_plan_offering_type", "VARCHAR"),
    ("savings_plan_rate", MONEY),
    ("savings_plan_effective_cost", MONEY), ("savings_plan_total_commitment_to_date", MONEY),
    ("savings_plan_used_commitment", MONEY),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", MONEY),
    ("savings_plan_recurring_commitment_for_billing_period", MONEY),
    ("amortized_cost", MONEY), ("microservice", "VARCHAR"), ("baseline_cost", MONEY),
    ("file_no", "INTEGER"), ("cur2_resource_tags", "MAP(VARCHAR, VARCHAR)"),
    ("focus_tags", "MAP(VARCHAR, VARCHAR)"), ("cur2_product", "MAP(VARCHAR, VARCHAR)"),
    ("time_interval", "VARCHAR"),
)  # fmt: skip
"""Every column of ``canon``, in order, with its DuckDB type. The product attributes
(``volume_api_name`` ... ``physical_processor``), ``pricing_offering_class`` and
``savings_plan_offering_type`` are ``''`` where a line has none."""

_NAMES = tuple(n for n, _ in CANON_COLUMNS)


@dataclass(frozen=True)
class Commitments:
    """The company's reservation and Savings Plan over the whole history."""

    ri_arn: str
    ri_units: int
    """Reserved m6i.2xlarge instances; one more than the EKS nodes they cover (one unused)."""
    ri_start: datetime
    sp_arn: str
    sp_start: datetime
    sp_hourly_commitment: Decimal


@dataclass(frozen=True)
class PeriodPlan:
    """What ``prepare_period`` needs to know about one delivery of one period."""

    seed: int
    period_start: date
    history_start: datetime
    files: int
    restated: bool
    refund_period: date
    final: bool = False
    """The invoice is issued (a month before the last, or its restatement): ``bill_invoice_id``
    is set; AWS leaves it empty until the month's invoice is final."""


def commitments_for(meters: list[Meter], history_start: datetime, months: int) -> Commitments:
    """The RI (bought at the start of the history) and the Compute Savings Plan (bought on the
    10th of month ``months // 2``, so that earlier months have no Savings Plan columns)."""
    payer = co.PAYER_ACCOUNT.account_id
    covered = sum(1 for m in meters if m.ri_covered)
    sp_month = _add_months(history_start.date(), months // 2)
    used = sum((m.list_rate * SP_DISCOUNT for m in meters if m.sp_covered), Decimal(0))
    commitment = (used * Decimal("1.08")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return Commitments(
        ri_arn=f"arn:aws:ec2:us-east-1:{payer}:reserved-instances/{_uuid('ri', history_start)}",
        ri_units=covered + 1,
        ri_start=history_start,
        sp_arn=f"arn:aws:savingsplans::{payer}:savingsplan/{_uuid('sp', history_start)}",
        sp_start=datetime(sp_month.year, sp_month.month, 10),
        sp_hourly_commitment=max(commitment, Decimal("1.00")),
    )


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


_PERIOD_SQL = """
CREATE OR REPLACE TEMP TABLE period AS SELECT
    CAST($period_start AS TIMESTAMP) AS period_start, CAST($period_end AS TIMESTAMP) AS period_end,
    CAST($history_start AS TIMESTAMP) AS history_start, CAST($sp_start AS TIMESTAMP) AS sp_start,
    CAST($hours AS DOUBLE) AS hours_in_month, CAST($seed AS UBIGINT) AS seed,
    CAST($files AS INTEGER) AS files, CAST($invoice_id AS VARCHAR) AS invoice_id,
    CAST($sp_arn AS VARCHAR) AS sp_arn, CAST($ri_arn AS VARCHAR) AS ri_arn,
    CAST($sp_commitment AS DECIMAL(18,10)) AS sp_commitment,
    CAST($ri_effective_rate AS DECIMAL(18,10)) AS ri_effective_rate,
    CAST($ri_upfront_rate AS DECIMAL(18,10)) AS ri_upfront_rate,
    CAST($ri_recurring_rate AS DECIMAL(18,10)) AS ri_recurring_rate,
    CAST($sp_discount AS DECIMAL(18,10)) AS sp_discount,
    CAST($sp_offering_type AS VARCHAR) AS sp_offering_type,
    CAST($ri_offering_class AS VARCHAR) AS ri_offering_class
"""

# The Savings Plan's hourly recurring fee: commitment, and the part used by covered usage.
_SP_FEE_SQL = """
CREATE OR REPLACE TEMP TABLE sp_raw AS
WITH sp_hours AS (
    SELECT *, unnest(generate_series(greatest(period_start, sp_start),
                                     period_end - INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS ts
    FROM period
    WHERE sp_start < period_end
), used AS (
    SELECT h.ts, COALESCE(SUM(CAST(CAST(1 AS DECIMAL(18,8)) * CAST(m.list_rate * h.sp_discount
                   AS DECIMAL(18,10)) AS DECIMAL(18,10))), 0) AS used
    FROM sp_hours h LEFT JOIN meters m
      ON m.sp_covered AND h.ts >= m.active_from AND h.ts < m.active_to
    GROUP BY h.ts
)
SELECT
    CAST(p.period_start AS DATE) AS billing_period, CAST(p.period_end AS DATE) AS billing_period_end,
    u.ts AS usage_start, u.ts + INTERVAL 1 HOUR AS usage_end,
    $payer AS payer_account_id, $payer_name AS payer_account_name,
    $payer AS account_id, $payer_name AS account_name, p.invoice_id,
    lower(hex(hash(p.seed, 'sp-fee', u.ts))) AS line_item_id,
    'SavingsPlanRecurringFee' AS line_item_type,
    'ComputeSavingsPlans' AS service_code, 'Savings Plans for AWS Compute usage' AS service_name,
    'Savings Plan' AS product_family, '' AS region, 'ComputeSP:1yrNoUpfront' AS usage_type,
    '' AS operation, p.sp_arn AS resource_id, '' AS instance_type, '' AS volume_api_name,
    '' AS volume_type, '' AS storage_class, '' AS database_engine, '' AS license_model,
    '' AS operating_system, '' AS physical_processor, '' AS purchase_option,
    '' AS pricing_term, '' AS pricing_offering_class, 1.0 AS usage_amount, 'Hrs' AS pricing_unit,
    p.sp_commitment AS unblended_rate, p.sp_commitment AS unblended_cost,
    CAST(0 AS DECIMAL(18,10)) AS list_rate, CAST(0 AS DECIMAL(18,10)) AS list_cost,
    '1 year No Upfront Compute Savings Plan' AS description,
    CAST(MAP() AS MAP(VARCHAR, VARCHAR)) AS tags,
    NULL AS reservation_arn, NULL AS reservation_effective_cost,
    NULL AS reservation_recurring_fee_for_usage, NULL AS reservation_amortized_upfront_cost_for_usage,
    NULL AS reservation_amortized_upfront_fee_for_billing_period,
    NULL AS reservation_unused_amortized_upfront_fee_for_billing_period,
    NULL AS reservation_unused_recurring_fee, NULL AS reservation_unused_quantity,
    NULL AS reservation_upfront_value,
    p.sp_arn AS savings_plan_arn, p.sp_offering_type AS savings_plan_offering_type,
    NULL AS savings_plan_rate, NULL AS savings_plan_effective_cost,
    p.sp_commitment AS savings_plan_total_commitment_to_date,
    CAST(u.used AS DECIMAL(18,10)) AS savings_plan_used_commitment,
    CAST(0 AS DECIMAL(18,10)) AS savings_plan_amortized_upfront_commitment_for_billing_period,
    CAST(p.sp_commitment * date_diff('hour', greatest(p.period_start, p.sp_start), p.period_end)
         AS DECIMAL(18,10)) AS savings_plan_recurring_commitment_for_billing_period,
    CAST(p.sp_commitment - u.used AS DECIMAL(18,10)) AS amortized_cost,
    '' AS microservice, CAST(p.sp_commitment - u.used AS DECIMAL(18,10)) AS baseline_cost,
    0 AS file_no
FROM used u, period p
"""

# Per (account, product, region) totals for support and tax, and per anomaly kind the cost it
# added to usage (cost minus the cost without the anomaly), in one pass over the period.
_TOTALS_SQL = """
SELECT account_id, account_name, service_code, service_name, region,
       COALESCE(anomaly, '') AS anomaly, CAST(SUM(unblended_cost) AS DECIMAL(38,10)),
       CAST(COALESCE(SUM(unblended_cost - baseline_cost) FILTER (
           WHERE line_item_type IN ('Usage', 'SavingsPlanCoveredUsage')), 0) AS DECIMAL(38,10))
FROM (SELECT * FROM hourly UNION ALL BY NAME SELECT * FROM sp_fees
      UNION ALL BY NAME SELECT * FROM fixed_lines)
GROUP BY ALL ORDER BY ALL
"""

_DERIVED = (
    f"{CUR2_TAGS_SQL} AS cur2_resource_tags, {FOCUS_TAGS_SQL} AS focus_tags, "
    f"{CUR2_PRODUCT_SQL} AS cur2_product, {TIME_INTERVAL_SQL} AS time_interval"
)
_DERIVED_NAMES = frozenset({"cur2_resource_tags", "focus_tags", "cur2_product", "time_interval"})
_BASE_COLUMNS = tuple((n, t) for n, t in CANON_COLUMNS if n not in _DERIVED_NAMES)


def _canon_select(source: str) -> str:
    """``source`` (a table name or a parenthesized fixed query) with the canon columns."""
    cols = ", ".join(f'CAST("{n}" AS {t}) AS "{n}"' for n, t in CANON_COLUMNS)
    return f"SELECT {cols} FROM {source}"  # noqa: S608 - identifiers from CANON_COLUMNS


def _with_derived(table: str) -> str:
    return f'(SELECT *, {_DERIVED} FROM "{table}")'  # noqa: S608 - fixed table names


@dataclass(frozen=True)
class PeriodTotals:
    """What one pass over a prepared period measured."""

    impacts: dict[str, Decimal]
    """Per anomaly kind: unblended cost minus the cost without the anomaly, in the period."""


def prepare_period(
    con: duckdb.DuckDBPyConnection, plan: PeriodPlan, commitments: Commitments
) -> PeriodTotals:
    """Create the view ``canon`` of one period in ``con`` (which holds ``meters`` and
    ``anomalies``); the injected anomalies' cost in the period."""
    start = plan.period_start
    end = _add_months(start, 1)
    hours = int((end - start).total_seconds() // 3600)
    payer = co.PAYER_ACCOUNT
    invoice = f"{plan.seed % 10**6:06d}{start:%y%m}" if plan.restated or plan.final else ""
    params: dict[str, Any] = {
        "period_start": start, "period_end": end, "history_start": plan.history_start,
        "sp_start": commitments.sp_start, "hours": hours, "seed": plan.seed,
        "files": plan.files, "invoice_id": invoice, "sp_arn": commitments.sp_arn,
        "ri_arn": commitments.ri_arn, "sp_commitment": str(commitments.sp_hourly_commitment),
        "ri_effective_rate": str(RI_UPFRONT_HOURLY + RI_RECURRING_HOURLY),
        "ri_upfront_rate": str(RI_UPFRONT_HOURLY), "ri_recurring_rate": str(RI_RECURRING_HOURLY),
        "sp_discount": str(SP_DISCOUNT), "sp_offering_type": cat.SP_OFFERING_TYPE,
        "ri_offering_class": cat.RI_OFFERING_CLASS,
    }  # fmt: skip
    con.execute(_PERIOD_SQL, params)
    prepare_hourly(con, hours, payer.account_id, payer.name)
    names = {"payer": payer.account_id, "payer_name": payer.name}
    # Tables built from a fixed query: the payer is a fixed, known identifier-free literal.
    con.execute(_literal(_SP_FEE_SQL, names))
    con.execute(f"CREATE OR REPLACE TEMP TABLE sp_fees AS {_canon_select(_with_derived('sp_raw'))}")
    fixed = fixed_lines(plan, commitments, start, end, hours, invoice)
    create_temp_table(con, "fixed_raw", _BASE_COLUMNS, _with_nulls(fixed))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE fixed_lines AS {_canon_select(_with_derived('fixed_raw'))}"
    )
    rows = con.execute(_TOTALS_SQL).fetchall()
    totals: dict[tuple[Any, ...], Decimal] = {}
    impacts: dict[str, Decimal] = {}
    for *key, anomaly, amount, impact in rows:
        totals[tuple(key)] = totals.get(tuple(key), Decimal(0)) + amount
        if anomaly:
            impacts[anomaly] = impacts.get(anomaly, Decimal(0)) + impact
    extra = support_and_tax(
        [(*key, amount) for key, amount in sorted(totals.items())], start, end, plan.seed, invoice
    )
    create_temp_table(con, "fixed_raw", _BASE_COLUMNS, _with_nulls(extra))
    con.execute(f"INSERT INTO fixed_lines {_canon_select(_with_derived('fixed_raw'))}")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW canon AS "
        f"{_canon_select('hourly')} UNION ALL {_canon_select('sp_fees')} "
        f"UNION ALL {_canon_select('fixed_lines')}"
    )
    return PeriodTotals(impacts=impacts)


def _literal(sql: str, names: dict[str, str]) -> str:
    for key, value in sorted(names.items(), key=lambda kv: -len(kv[0])):
        assert value.replace("-", "").isalnum()
        sql = sql.replace(f"${key}", f"'{value}'")
    return sql


def _with_nulls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with NULL in every canon column a row does not set."""
    return [{**dict.fromkeys(_NAMES), **row} for row in rows]


def history_hours(start: date, months: int) -> timedelta:
    """Length of ``months`` months from ``start``."""
    return datetime.combine(_add_months(start, months), datetime.min.time()) - datetime.combine(
        start, datetime.min.time()
    )
