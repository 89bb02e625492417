# ruff: noqa: E501
"""The few monthly line items of a billing period, computed in Python with exact decimals.

Reservation fees (the upfront sign-up fee and the monthly ``RIFee``), credits, the refund, the
restatement's SLA credit, the support fee and tax. ``costlens.sample.lines`` loads them into
the ``fixed_lines`` table of ``canon``. A row names only the canon columns it sets; the others
are NULL.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from costlens.sample import catalog as cat
from costlens.sample import company as co
from costlens.sample.catalog import RI_RECURRING_HOURLY, RI_UPFRONT_HOURLY
from costlens.sample.hourly import PRODUCT_ATTRIBUTES

if TYPE_CHECKING:
    from costlens.sample.lines import Commitments, PeriodPlan

__all__ = ["fixed_lines", "support_and_tax"]

_TEXT_ATTRIBUTES = (*PRODUCT_ATTRIBUTES, "pricing_offering_class", "savings_plan_offering_type")
TAX_RATE = Decimal("0.06")
SUPPORT_RATE = Decimal("0.03")
SANDBOX_CREDIT = Decimal("-250.00")
REFUND = Decimal("-123.45")
RESTATEMENT_CREDIT = Decimal("-75.00")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def _row(start: date, end: date, invoice: str, **kw: Any) -> dict[str, Any]:
    payer = co.PAYER_ACCOUNT
    row: dict[str, Any] = {}
    row.update(
        billing_period=start, billing_period_end=end, payer_account_id=payer.account_id,
        payer_account_name=payer.name, invoice_id=invoice, region="", operation="",
        resource_id="", instance_type="", purchase_option="", pricing_term="", tags=[],
        **dict.fromkeys(_TEXT_ATTRIBUTES, ""),
        usage_start=datetime(start.year, start.month, 1), usage_end=datetime(end.year, end.month, 1),
        list_rate=Decimal(0), list_cost=Decimal(0), microservice="", file_no=0,
    )  # fmt: skip
    row.update(kw)
    if row.get("amortized_cost") is None:
        row["amortized_cost"] = row["unblended_cost"]
    if row.get("baseline_cost") is None:
        row["baseline_cost"] = row["amortized_cost"]
    return row


def fixed_lines(
    plan: PeriodPlan, c: Commitments, start: date, end: date, hours: int, invoice: str
) -> list[dict[str, Any]]:
    """The period's reservation fees, sandbox credit, refund and restatement credit."""
    prod, sandbox = co.account("northwind-prod"), co.account("northwind-sandbox")
    rows: list[dict[str, Any]] = []
    ri = {"account_id": prod.account_id, "account_name": prod.name, "service_code": "AmazonEC2",
          "service_name": "Amazon Elastic Compute Cloud", "product_family": "Compute Instance",
          "region": "us-east-1", "usage_type": "HeavyUsage:m6i.2xlarge", "operation": "RunInstances",
          "instance_type": "m6i.2xlarge", "reservation_arn": c.ri_arn, "pricing_term": "Reserved",
          "pricing_offering_class": cat.RI_OFFERING_CLASS, "operating_system": cat.LINUX,
          "physical_processor": cat.physical_processor(cat.EKS_NODE[0])}  # fmt: skip
    n = Decimal(c.ri_units)
    if start == c.ri_start.date():
        upfront = RI_UPFRONT_HOURLY * 8760 * n
        rows.append(_row(start, end, invoice, **ri, line_item_id=_uuid(plan.seed, "ri-fee", start),
            line_item_type="Fee", usage_amount=float(n), pricing_unit="Quantity",
            unblended_rate=RI_UPFRONT_HOURLY * 8760, unblended_cost=upfront, amortized_cost=Decimal(0),
            reservation_upfront_value=upfront,
            description="Sign up charge for subscription: m6i.2xlarge partial upfront, 1 year"))  # fmt: skip
    h = Decimal(hours)
    unused_upfront = RI_UPFRONT_HOURLY * h
    unused_recurring = RI_RECURRING_HOURLY * h
    rows.append(_row(start, end, invoice, **ri, line_item_id=_uuid(plan.seed, "ri-rifee", start),
        line_item_type="RIFee", usage_amount=float(h * n), pricing_unit="Hrs",
        unblended_rate=RI_RECURRING_HOURLY, unblended_cost=RI_RECURRING_HOURLY * h * n,
        amortized_cost=unused_upfront + unused_recurring,
        reservation_amortized_upfront_fee_for_billing_period=RI_UPFRONT_HOURLY * h * n,
        reservation_unused_amortized_upfront_fee_for_billing_period=unused_upfront,
        reservation_unused_recurring_fee=unused_recurring, reservation_unused_quantity=float(h),
        description="USD 0.11 hourly fee per Linux/UNIX (Amazon VPC), m6i.2xlarge instance"))  # fmt: skip
    rows.append(_row(start, end, invoice, account_id=sandbox.account_id, account_name=sandbox.name,
        line_item_id=_uuid(plan.seed, "credit", start), line_item_type="Credit",
        service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud", product_family="",
        usage_type="", usage_amount=0.0, pricing_unit="", unblended_rate=Decimal(0),
        unblended_cost=SANDBOX_CREDIT, description="AWS Activate credits"))  # fmt: skip
    if start == plan.refund_period:
        rows.append(_row(start, end, invoice, account_id=prod.account_id, account_name=prod.name,
            line_item_id=_uuid(plan.seed, "refund", start), line_item_type="Refund",
            service_code="AmazonRDS", service_name="Amazon Relational Database Service",
            product_family="", usage_type="", usage_amount=0.0, pricing_unit="",
            unblended_rate=Decimal(0), unblended_cost=REFUND,
            description="Refund for an over-provisioned RDS storage charge"))  # fmt: skip
    if plan.restated:
        rows.append(_row(start, end, invoice, account_id=prod.account_id, account_name=prod.name,
            line_item_id=_uuid(plan.seed, "sla-credit", start), line_item_type="Credit",
            service_code="AmazonEC2", service_name="Amazon Elastic Compute Cloud",
            product_family="", usage_type="", usage_amount=0.0, pricing_unit="",
            unblended_rate=Decimal(0), unblended_cost=RESTATEMENT_CREDIT,
            description="Service level agreement credit (restated invoice)"))  # fmt: skip
    return rows


def support_and_tax(
    totals: list[tuple[Any, ...]], start: date, end: date, seed: int, invoice: str
) -> list[dict[str, Any]]:
    """The support fee and the tax lines, from the period's cost per (account, product, region):
    ``totals`` holds (account_id, account_name, service_code, service_name, region, cost)."""
    cent = Decimal("0.01")
    payer = co.PAYER_ACCOUNT
    usage = sum((t[5] for t in totals), Decimal(0))
    support = max(Decimal(0), usage * SUPPORT_RATE).quantize(cent, ROUND_HALF_UP)
    rows = [_row(start, end, invoice, account_id=payer.account_id, account_name=payer.name,
        line_item_id=_uuid(seed, "support", start), line_item_type="Fee",
        service_code="AWSSupportEnterprise", service_name="AWS Support (Enterprise)",
        product_family="", usage_type="Dollar", operation="", usage_amount=1.0, pricing_unit="",
        unblended_rate=support, unblended_cost=support,
        description="AWS Support (Enterprise) monthly fee")]  # fmt: skip
    by_key: dict[tuple[Any, ...], Decimal] = {}
    for t in totals:  # the tax base: every region, credits and refunds included
        by_key[t[:4]] = by_key.get(t[:4], Decimal(0)) + t[5]
    key = (payer.account_id, payer.name, "AWSSupportEnterprise", "AWS Support (Enterprise)")
    by_key[key] = by_key.get(key, Decimal(0)) + support
    for (acct_id, acct_name, code, name), amount in sorted(by_key.items()):
        tax = (amount * TAX_RATE).quantize(cent, ROUND_HALF_UP)
        if tax <= 0:
            continue
        rows.append(_row(start, end, invoice, account_id=acct_id, account_name=acct_name,
            line_item_id=_uuid(seed, "tax", start, acct_id, code), line_item_type="Tax",
            service_code=code, service_name=name, product_family="", usage_type="",
            usage_amount=1.0, pricing_unit="", unblended_rate=Decimal(0), unblended_cost=tax,
            description=f"Tax for product code {code}"))  # fmt: skip
    return rows
