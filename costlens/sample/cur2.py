"""CUR 2.0 (AWS Data Exports) layout: Parquet data files plus a manifest per execution.

``<OUT>/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.snappy.parquet`` and
``<OUT>/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``. A restatement is a new
execution that overwrites the period's files and manifest (AWS's overwrite delivery option).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from costlens.progress import Task
from costlens.sample.hourly import PRODUCT_SERVICENAME_SQL
from costlens.sample.manifests import Delivery, write_data_export_period

__all__ = ["CUR2_PROJECTION", "write_cur2_period"]

CUR2_PROJECTION = ", ".join(
    (
        "line_item_id AS identity_line_item_id",
        "time_interval AS identity_time_interval",
        "invoice_id AS bill_invoice_id",
        "'Amazon Web Services, Inc.' AS bill_invoicing_entity",
        "'AWS' AS bill_billing_entity",
        "'Anniversary' AS bill_bill_type",
        "payer_account_id AS bill_payer_account_id",
        "payer_account_name AS bill_payer_account_name",
        "CAST(billing_period AS TIMESTAMP) AS bill_billing_period_start_date",
        "CAST(billing_period_end AS TIMESTAMP) AS bill_billing_period_end_date",
        "account_id AS line_item_usage_account_id",
        "account_name AS line_item_usage_account_name",
        "line_item_type AS line_item_line_item_type",
        "usage_start AS line_item_usage_start_date",
        "usage_end AS line_item_usage_end_date",
        "service_code AS line_item_product_code",
        "usage_type AS line_item_usage_type",
        "operation AS line_item_operation",
        "'' AS line_item_availability_zone",
        "resource_id AS line_item_resource_id",
        "usage_amount AS line_item_usage_amount",
        "'USD' AS line_item_currency_code",
        "CAST(unblended_rate AS VARCHAR) AS line_item_unblended_rate",
        "unblended_cost AS line_item_unblended_cost",
        "CAST(unblended_rate AS VARCHAR) AS line_item_blended_rate",
        "unblended_cost AS line_item_blended_cost",
        "description AS line_item_line_item_description",
        "'Amazon Web Services, Inc.' AS line_item_legal_entity",
        "service_code AS product_servicecode",
        f"{PRODUCT_SERVICENAME_SQL} AS product_servicename",
        "product_family AS product_product_family",
        "region AS product_region_code",
        "instance_type AS product_instance_type",
        "usage_type AS product_usagetype",
        "pricing_term",
        "pricing_offering_class",
        "pricing_unit",
        "CAST(list_rate AS VARCHAR) AS pricing_public_on_demand_rate",
        "list_cost AS pricing_public_on_demand_cost",
        "COALESCE(reservation_arn, '') AS reservation_reservation_a_r_n",
        "reservation_effective_cost",
        "reservation_recurring_fee_for_usage",
        "reservation_amortized_upfront_cost_for_usage",
        "reservation_amortized_upfront_fee_for_billing_period",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_recurring_fee",
        "reservation_unused_quantity",
        "reservation_upfront_value",
        "COALESCE(savings_plan_arn, '') AS savings_plan_savings_plan_a_r_n",
        "savings_plan_offering_type",
        "savings_plan_rate AS savings_plan_savings_plan_rate",
        "savings_plan_effective_cost AS savings_plan_savings_plan_effective_cost",
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
        "savings_plan_amortized_upfront_commitment_for_billing_period",
        "savings_plan_recurring_commitment_for_billing_period",
        "cur2_resource_tags AS resource_tags",
        "CAST(MAP() AS MAP(VARCHAR, VARCHAR)) AS cost_category",
        "cur2_product AS product",
    )
)
"""The CUR 2.0 columns, projected from ``canon`` (AWS's Data Exports column names). The product
attributes (``volume_api_name``, ``physical_processor``, ...) are keys of the ``product`` map."""


def write_cur2_period(
    con: duckdb.DuckDBPyConnection, out: Path, delivery: Delivery, task: Task
) -> tuple[list[Path], int]:
    """Write one delivery of one period; the files written (data, then manifest) and rows."""
    return write_data_export_period(con, out, delivery, task, CUR2_PROJECTION)
