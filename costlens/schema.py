"""The canonical schemas: one source of truth for column names and types.

``line_items`` is what every billing export format is normalized into (DESIGN.md); names follow
FOCUS where FOCUS has a concept, in snake_case. Costs are ``DECIMAL(18,10)`` so sums are exact.

Empty versus missing, one rule for every format: a text (VARCHAR) column of ``line_items`` is
never NULL. An empty value, a NULL and a column the export lacks all mean "none" and are stored
as '' (after the column's fallbacks, docs/ingest.md "Empty, missing and fallbacks"); times and
quantities stay NULL when missing, costs are 0.

>>> column_names(LINE_ITEMS)[:3]
('billing_period', 'usage_start', 'usage_end')
>>> COST_COLUMNS
('unblended_cost', 'amortized_cost', 'net_amortized_cost', 'list_cost')
>>> ROLLUP_DIMENSIONS[:3], cost_column("amortized")
(('owner', 'microservice', 'service_code'), 'amortized_cost')
"""

from __future__ import annotations

from dataclasses import dataclass

from costlens.errors import QueryError

__all__ = [
    "ADJUSTMENTS",
    "ADJUSTMENT_GRAIN",
    "ALLOCATION_BASE",
    "CHARGE_CATEGORIES",
    "CLOSED_PERIODS",
    "COMMITMENT_ATTRIBUTES",
    "COST_COLUMNS",
    "DELIVERIES",
    "KPI_ATTRIBUTES",
    "LINE_ITEMS",
    "LINE_KEYS",
    "MONEY",
    "PRODUCT_ATTRIBUTES",
    "PURCHASE_OPTIONS",
    "SUM_MONEY",
    "Column",
    "column_names",
    "create_table_sql",
]

MONEY = "DECIMAL(18,10)"
"""Type of every cost column of a line item."""

SUM_MONEY = "DECIMAL(38,10)"
"""Type of sums of money (ledger totals, rollups): wide enough for any bill."""


@dataclass(frozen=True)
class Column:
    """A column of a canonical table."""

    name: str
    sql_type: str
    description: str


LINE_ITEMS: tuple[Column, ...] = (
    Column("billing_period", "DATE", "First day of the billing month."),
    Column("usage_start", "TIMESTAMP", "Start of the charge period, UTC."),
    Column("usage_end", "TIMESTAMP", "End of the charge period, UTC."),
    Column("payer_account_id", "VARCHAR", "Management (payer) account; FOCUS BillingAccountId."),
    Column("account_id", "VARCHAR", "Usage account; FOCUS SubAccountId."),
    Column("account_name", "VARCHAR", "Usage account name; '' where the export has none."),
    Column("invoice_id", "VARCHAR", "Invoice id; '' until the month is final."),
    Column("line_item_type", "VARCHAR", "CUR line item type (Usage, Tax, RIFee, ...)."),
    Column("charge_category", "VARCHAR", "Usage, Purchase, Tax, Credit or Adjustment."),
    Column("service_code", "VARCHAR", "AWS product code, e.g. AmazonEC2."),
    Column("service_name", "VARCHAR", "Service name, e.g. Amazon Elastic Compute Cloud."),
    Column("region", "VARCHAR", "Region code, e.g. us-east-1; '' for global charges."),
    Column("usage_type", "VARCHAR", "CUR usage type, e.g. USE1-BoxUsage:m5.large."),
    Column("operation", "VARCHAR", "CUR operation, e.g. RunInstances."),
    Column("resource_id", "VARCHAR", "Resource id or ARN, '' when the export has none."),
    Column("instance_type", "VARCHAR", "Instance type where the product has one, else ''."),
    Column("volume_api_name", "VARCHAR", "EBS volume type (gp2, gp3, io1, ...), else ''."),
    Column("storage_class", "VARCHAR", "S3 storage class (Standard, Intelligent-Tiering, ...)."),
    Column("database_engine", "VARCHAR", "RDS database engine (MySQL, Oracle, ...), else ''."),
    Column("license_model", "VARCHAR", "RDS license model (License included, ...), else ''."),
    Column("operating_system", "VARCHAR", "Operating system of an instance (Linux, ...)."),
    Column("physical_processor", "VARCHAR", "Processor of an instance (AWS Graviton2, ...)."),
    Column("commitment_discount_id", "VARCHAR", "ARN of the reservation or Savings Plan, else ''."),
    Column("commitment_discount_type", "VARCHAR", "Reservation or Savings Plan, else ''."),
    Column("commitment_offering_type", "VARCHAR", "Savings Plan type or RI offering class."),
    Column("purchase_option", "VARCHAR", "OnDemand, Spot, Reserved or SavingsPlan."),
    Column("usage_amount", "DOUBLE", "Consumed quantity in pricing_unit."),
    Column("pricing_unit", "VARCHAR", "Unit of usage_amount, e.g. Hrs, GB-Mo; '' for none."),
    Column("unblended_cost", MONEY, "Billed cost as invoiced (FOCUS BilledCost)."),
    Column("amortized_cost", MONEY, "Cost with RI/SP upfront and recurring fees spread to usage."),
    Column("net_amortized_cost", MONEY, "Amortized cost after discounts (net_* columns)."),
    Column("list_cost", MONEY, "Public on-demand cost (FOCUS ListCost)."),
    Column("tags", "MAP(VARCHAR, VARCHAR)", "Resource tags, keys normalized to snake_case."),
    Column("delivery_id", "VARCHAR", "Ledger row (deliveries.delivery_id) of this line."),
    Column("line_key", "UBIGINT", "Key of the line's description (costlens.line_keys)."),
    Column(
        "source_lines",
        "BIGINT",
        "Export line items this row sums: NULL for one line as delivered; a day's lines of one "
        "description summed where an engine brought them home (costlens.engines).",
    ),
)

PRODUCT_ATTRIBUTES: tuple[str, ...] = (
    "volume_api_name",
    "storage_class",
    "database_engine",
    "license_model",
    "operating_system",
    "physical_processor",
)
"""The product attributes of ``line_items`` the scorecards' KPIs read (schema version 3)."""

COMMITMENT_ATTRIBUTES: tuple[str, ...] = (
    "commitment_discount_id",
    "commitment_discount_type",
    "commitment_offering_type",
)
"""The reservation or Savings Plan of a line (schema version 3), FOCUS's names."""

KPI_ATTRIBUTES: tuple[str, ...] = (*PRODUCT_ATTRIBUTES, *COMMITMENT_ATTRIBUTES)
"""Every text column added for the scorecards (schema version 3)."""

COST_COLUMNS: tuple[str, ...] = (
    "unblended_cost",
    "amortized_cost",
    "net_amortized_cost",
    "list_cost",
)

_NOT_KEYED = frozenset(
    {
        "usage_start",
        "usage_end",
        "usage_amount",
        *COST_COLUMNS,
        "delivery_id",
        "line_key",
        "source_lines",
    }
)

LINE_KEYS: tuple[Column, ...] = (
    Column("line_key", "UBIGINT", "hash of the other columns and a salt (costlens.line_keys)."),
    *(c for c in LINE_ITEMS if c.name not in _NOT_KEYED),
)
"""One row per distinct line item description: what attribution rules read."""

CHARGE_CATEGORIES: tuple[str, ...] = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
PURCHASE_OPTIONS: tuple[str, ...] = ("OnDemand", "Spot", "Reserved", "SavingsPlan")

DELIVERIES: tuple[Column, ...] = (
    Column("delivery_id", "VARCHAR PRIMARY KEY", "Stable id of one delivery of one period."),
    Column("source", "VARCHAR", "Configured source name, or the ad-hoc path or URL."),
    Column("report", "VARCHAR", "CUR 2.0 export name or legacy report name."),
    Column("format", "VARCHAR", "The export format (EXPORT_FORMATS)."),
    Column("billing_period", "DATE", "First day of the billing month delivered."),
    Column("assembly_id", "VARCHAR", "Assembly or execution id from the manifest, if any."),
    Column("files", "VARCHAR", "JSON list of {key, etag, size, sha256} of the files loaded."),
    Column("row_count", "BIGINT", "Line items loaded from this delivery."),
    *(Column(f"total_{c}", SUM_MONEY, f"Sum of {c} over the delivery.") for c in COST_COLUMNS),
    Column("status", "VARCHAR", "current, or superseded once a newer delivery replaced it."),
    Column("ingested_at", "TIMESTAMP", "When this delivery was loaded (UTC)."),
    Column("engine", "VARCHAR", "What normalized and attributed it: duckdb (ingest) or spark."),
)

CLOSED_PERIODS: tuple[Column, ...] = (
    Column("billing_period", "DATE PRIMARY KEY", "First day of the closed billing month."),
    Column("closed_at", "TIMESTAMP", "When it was closed (UTC)."),
    Column("closed_by", "VARCHAR", "Who closed it (COSTLENS_USER or the login name)."),
    Column("rule_version", "VARCHAR", "The frozen allocations' rule-set version."),
    *(
        Column(f"total_{c}", SUM_MONEY, f"Sum of the frozen allocations' {c} at close.")
        for c in COST_COLUMNS
    ),
)
"""Months finance closed (schema version 4): their ``allocations`` rows are frozen, attribution
never rewrites them; a later restatement becomes ``adjustments`` (``costlens.closing``)."""

ADJUSTMENT_GRAIN: tuple[str, ...] = (
    "owner",
    "microservice",
    "payer_account_id",
    "invoice_id",
    "account_id",
    "service_code",
)
"""What an adjustment row is per: the grain of finance's chargeback, with the invoice the
restated line items carry (so each invoice reconciles on its own)."""

ADJUSTMENTS: tuple[Column, ...] = (
    Column("adjustment_id", "VARCHAR", "Stable hash of the period, deliveries and grain."),
    Column("billing_period", "DATE", "The closed billing month the adjustment belongs to."),
    Column("owner", "VARCHAR", "Business owner id, or 'unallocated'."),
    Column("microservice", "VARCHAR", "Microservice, or 'unallocated'."),
    Column("payer_account_id", "VARCHAR", "Payer account."),
    Column("invoice_id", "VARCHAR", "Invoice id of the line items ('' until final; schema v5)."),
    Column("account_id", "VARCHAR", "Usage account."),
    Column("service_code", "VARCHAR", "AWS product code."),
    *(Column(c, SUM_MONEY, f"Change of {c} since the close.") for c in COST_COLUMNS),
    Column("delivery_id", "VARCHAR", "The period's current deliveries that caused it, ','-joined."),
    Column("recorded_at", "TIMESTAMP", "When it was recorded (UTC)."),
)
"""Restatements of closed months (schema version 4): for a closed period and cost column,
frozen allocations + adjustments = line items, exactly."""

ALLOCATION_BASE: tuple[Column, ...] = (
    Column("usage_date", "DATE", "Day of usage (UTC)."),
    Column("billing_period", "DATE", "First day of the billing month."),
    Column("payer_account_id", "VARCHAR", "Payer account."),
    Column("account_id", "VARCHAR", "Usage account."),
    Column("service_code", "VARCHAR", "AWS product code."),
    Column("region", "VARCHAR", "Region code."),
    Column("usage_type", "VARCHAR", "CUR usage type."),
    Column("resource_id", "VARCHAR", "Resource id or ''."),
    Column("line_item_type", "VARCHAR", "CUR line item type."),
    Column("charge_category", "VARCHAR", "Usage, Purchase, Tax, Credit or Adjustment."),
    Column("purchase_option", "VARCHAR", "OnDemand, Spot, Reserved or SavingsPlan."),
    Column("microservice", "VARCHAR", "Microservice the cost belongs to, or 'unallocated'."),
    Column("owner", "VARCHAR", "Business owner id, or 'unallocated'."),
)
"""Leading columns of ``allocations``; the rules' extra dimensions, ``allocation``, ``rule``, the
cost columns and ``usage_amount`` follow (see ``costlens.attribution``)."""


def column_names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    """Names of ``columns`` in order."""
    return tuple(c.name for c in columns)


def create_table_sql(table: str, columns: tuple[Column, ...]) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for a canonical table.

    >>> create_table_sql("t", (Column("a", "INTEGER", ""),))
    'CREATE TABLE IF NOT EXISTS "t" (\\n  "a" INTEGER\\n)'
    """
    body = ",\n".join(f'  "{c.name}" {c.sql_type}' for c in columns)
    return f'CREATE TABLE IF NOT EXISTS "{table}" (\n{body}\n)'


# --- the shared vocabulary of the questions (queries, pages, reports) ---------------------------

EXPORT_FORMATS: tuple[str, ...] = ("cur2", "cur1-csv", "cur1-parquet", "focus")
"""The billing export formats, as ``[[sources]] format``, ``generate-sample --format`` and the
ledger name them (``ingest.formats.FORMATS`` has one module each; a test keeps them equal)."""

COST_TYPES: tuple[str, ...] = ("unblended", "amortized", "net_amortized")
"""Cost types a question may ask for; ``cost_column`` maps them to their column."""

ROLLUP_DIMENSIONS: tuple[str, ...] = (
    "owner",
    "microservice",
    "service_code",
    "account_id",
    "region",
    "usage_type",
    "purchase_option",
    "line_item_type",
)
"""Dimensions with their own daily and monthly rollup (and anomaly scan, for the first four)."""

DIMENSIONS: tuple[str, ...] = (
    *ROLLUP_DIMENSIONS,
    "charge_category",
    "payer_account_id",
    "allocation",
)
"""Every column of the ``daily`` cube a question may group or filter by (plus the extra
dimensions the attribution rules declare, recorded per snapshot)."""

DIMENSION_LABELS: dict[str, str] = {
    "owner": "Owner",
    "microservice": "Microservice",
    "service_code": "AWS service",
    "account_id": "Account",
    "region": "Region",
    "usage_type": "Usage type",
    "purchase_option": "Purchase option",
    "line_item_type": "Line item type",
    "charge_category": "Charge category",
    "payer_account_id": "Payer account",
    "allocation": "Allocation",
}
"""How each of the ``DIMENSIONS`` is named for people (pages, exports, digests)."""


def cost_column(cost_type: str) -> str:
    """The cost column of ``cost_type`` (one of ``COST_TYPES``)."""
    if cost_type not in COST_TYPES:
        raise QueryError(
            f"unknown cost type {cost_type!r}", fix=f"use one of: {', '.join(COST_TYPES)}"
        )
    return f"{cost_type}_cost"
