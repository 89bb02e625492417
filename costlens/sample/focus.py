"""FOCUS 1.0 export (AWS Data Exports' FOCUS table): Parquet plus a manifest, like CUR 2.0.

``<OUT>/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.snappy.parquet`` and
``<OUT>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``. FOCUS has no line item
type: ``ChargeCategory`` (Usage, Purchase, Tax, Credit, Adjustment) and the commitment columns
carry it. Tag keys keep AWS's ``user:`` prefix.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from costlens.progress import Task
from costlens.sample.manifests import Delivery, write_data_export_period

__all__ = ["CHARGE_CATEGORY_SQL", "FOCUS_PROJECTION", "write_focus_period"]

CHARGE_CATEGORY_SQL = """CASE
    WHEN line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage',
                            'SavingsPlanNegation') THEN 'Usage'
    WHEN line_item_type IN ('Fee', 'RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee')
        THEN 'Purchase'
    WHEN line_item_type = 'Tax' THEN 'Tax'
    WHEN line_item_type = 'Credit' THEN 'Credit'
    ELSE 'Adjustment' END"""
"""How a CUR line item type maps to a FOCUS 1.0 ChargeCategory (Refund → Adjustment)."""

FOCUS_PROJECTION = ", ".join(
    (
        "CAST(NULL AS VARCHAR) AS AvailabilityZone",
        "unblended_cost AS BilledCost",
        "payer_account_id AS BillingAccountId",
        "payer_account_name AS BillingAccountName",
        "'USD' AS BillingCurrency",
        "CAST(billing_period_end AS TIMESTAMP) AS BillingPeriodEnd",
        "CAST(billing_period AS TIMESTAMP) AS BillingPeriodStart",
        f"{CHARGE_CATEGORY_SQL} AS ChargeCategory",
        "CAST(NULL AS VARCHAR) AS ChargeClass",
        "description AS ChargeDescription",
        "CASE WHEN line_item_type IN ('Fee', 'Credit', 'Refund') AND service_code <> "
        "'AWSSupportEnterprise' THEN 'One-Time' WHEN line_item_type IN ('RIFee', "
        "'SavingsPlanRecurringFee', 'Fee') THEN 'Recurring' WHEN line_item_type = 'Tax' "
        "THEN 'Recurring' ELSE 'Usage-Based' END AS ChargeFrequency",
        "usage_end AS ChargePeriodEnd",
        "usage_start AS ChargePeriodStart",
        "CASE WHEN savings_plan_arn IS NOT NULL THEN 'Spend' WHEN reservation_arn IS NOT NULL "
        "THEN 'Usage' END AS CommitmentDiscountCategory",
        "COALESCE(savings_plan_arn, reservation_arn) AS CommitmentDiscountId",
        "CASE WHEN savings_plan_arn IS NOT NULL THEN 'ComputeSavingsPlans' WHEN reservation_arn "
        "IS NOT NULL THEN 'm6i.2xlarge reservation' END AS CommitmentDiscountName",
        "CASE WHEN line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage') THEN 'Used' "
        "WHEN line_item_type IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Unused' "
        "END AS CommitmentDiscountStatus",
        "CASE WHEN savings_plan_arn IS NOT NULL THEN 'Savings Plan' WHEN reservation_arn IS NOT "
        "NULL THEN 'Reserved Instance' END AS CommitmentDiscountType",
        "usage_amount AS ConsumedQuantity",
        "pricing_unit AS ConsumedUnit",
        "amortized_cost AS ContractedCost",
        "unblended_rate AS ContractedUnitPrice",
        "amortized_cost AS EffectiveCost",
        "'Amazon Web Services, Inc.' AS InvoiceIssuerName",
        "list_cost AS ListCost",
        "list_rate AS ListUnitPrice",
        "CASE WHEN purchase_option = 'Spot' THEN 'Dynamic' WHEN purchase_option IN "
        "('Reserved', 'SavingsPlan') THEN 'Committed' WHEN line_item_type = 'Usage' "
        "THEN 'Standard' END AS PricingCategory",
        "usage_amount AS PricingQuantity",
        "pricing_unit AS PricingUnit",
        "'AWS' AS ProviderName",
        "'Amazon Web Services, Inc.' AS PublisherName",
        "region AS RegionId",
        "region AS RegionName",
        "resource_id AS ResourceId",
        "CAST(NULL AS VARCHAR) AS ResourceName",
        "product_family AS ResourceType",
        "CASE WHEN service_code IN ('AmazonEC2', 'AWSLambda', 'AmazonEKS') THEN 'Compute' "
        "WHEN service_code IN ('AmazonRDS', 'AmazonDynamoDB') THEN 'Databases' "
        "WHEN service_code = 'AmazonS3' THEN 'Storage' WHEN service_code IN "
        "('AmazonCloudFront', 'AWSDataTransfer') THEN 'Networking' ELSE 'Other' "
        "END AS ServiceCategory",
        "line_item_id AS Id",
        "service_name AS ServiceName",
        "CAST(NULL AS VARCHAR) AS SkuId",
        "CAST(NULL AS VARCHAR) AS SkuPriceId",
        "account_id AS SubAccountId",
        "account_name AS SubAccountName",
        "focus_tags AS Tags",
        "service_code AS x_ServiceCode",
        "usage_type AS x_UsageType",
        "operation AS x_Operation",
    )
)
"""The FOCUS 1.0 columns AWS's FOCUS export carries, plus its ``x_`` extensions."""


def write_focus_period(
    con: duckdb.DuckDBPyConnection, out: Path, delivery: Delivery, task: Task
) -> tuple[list[Path], int]:
    """Write one delivery of one period; the files written (data, then manifest) and rows."""
    return write_data_export_period(con, out, delivery, task, FOCUS_PROJECTION)
