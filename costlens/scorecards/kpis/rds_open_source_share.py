"""RDS open-source share: the share of RDS instance spend not on Oracle or SQL Server.

Follows CID's cost-based "RDS Open Source Coverage" (``(rds_all - oracle - sql server) /
rds_all``, on-demand equivalent). CID's KPI tracker counts line items by license model instead;
costlens weighs by dollars (a deliberate difference: a count says nothing about money). Savings:
15 % of Oracle License-included spend and 25 % of SQL Server spend (CID's
``DatabaseLIPotentialSaving``).

>>> KPI.name, str(KPI.default_goal)
('rds_open_source_share', '0.75')
"""

from decimal import Decimal

from costlens.scorecards.kpis._common import USAGE, rate
from costlens.scorecards.model import Kpi

_RDS = f"instance_row AND service_code = 'AmazonRDS' AND {USAGE} AND instance_type <> ''"

KPI = Kpi(
    "rds_open_source_share",
    "RDS open-source engines",
    "Share of RDS instance spend on engines other than Oracle and SQL Server.",
    unit="share",
    direction="higher",
    default_goal=Decimal("0.75"),
    eligible=_RDS,
    eligible_cost="adjusted",
    numerator=f"{_RDS} AND database_engine NOT IN ('Oracle', 'SQL Server')",
    numerator_cost="adjusted",
    savings=f"CASE WHEN {_RDS} AND database_engine = 'Oracle'"
    f" AND license_model = 'License included' THEN amortized * {rate('0.15')}"
    f" WHEN {_RDS} AND database_engine = 'SQL Server' THEN amortized * {rate('0.25')} END",
    assumption="Leaving a licensed engine saves about 15 % (Oracle) or 25 % (SQL Server).",
    action="move {n} {things} to an open-source engine",
    things=("licensed database instance", "licensed database instances"),
    cid="kpi_instance_all: (rds_all_cost - rds_oracle_cost - rds_sql_server_cost) / all; "
    "CID's tracker counts rows instead",
)
