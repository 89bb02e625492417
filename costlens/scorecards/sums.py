# ruff: noqa: S608  (SQL from the registry's fixed pieces and fixed names; values are bound)
"""The SQL of the scorecards: every KPI's sums in one pass, and the savings per resource.

``KPI_SUMS_SQL`` reads ``kpi_facts`` once and returns, per billing period and scope (owner,
owner x microservice, account), for each KPI of ``SQL_KPIS``: its eligible spend (amortized),
the denominator and numerator of its value (each in the KPI's cost basis) and its potential
savings. ``RESOURCES_SQL`` gives each resource (a resource id, or the usage type for lines
without one) its best action: the KPI that would save it the most, at most its spend.
"""

from __future__ import annotations

from costlens.scorecards.facts import FACTS
from costlens.scorecards.model import Kpi
from costlens.scorecards.registry import SQL_KPIS

__all__ = [
    "RESOURCES",
    "RESOURCES_SQL",
    "SAVING_KPIS",
    "SCOPE_COLUMNS",
    "kpi_sums_sql",
    "saving_sql",
]

SCOPE_COLUMNS = {
    "owner": ("owner",),
    "microservice": ("owner", "microservice"),
    "account": ("account_id",),
}
"""The columns that name a scorecard's subject, per scope."""

RESOURCES = "_kpi_resources"

SAVING_KPIS: tuple[Kpi, ...] = tuple(k for k in SQL_KPIS if k.savings)
"""The KPIs with a savings formula (their order breaks ties between best actions)."""

_MONEY = "DECIMAL(38,10)"
_ZERO = f"CAST(0 AS {_MONEY})"


def saving_sql(k: Kpi) -> str:
    """A ``kpi_facts`` row's savings for ``k``: its formula, never below 0 and never above the
    row's amortized cost (a credit row saves nothing)."""
    saved = f"COALESCE(CAST(({k.savings}) AS {_MONEY}), {_ZERO})"
    return f"GREATEST(LEAST({saved}, GREATEST(amortized, {_ZERO})), {_ZERO})"


def kpi_sums_sql() -> str:
    """One row per period and scope with ``<i>_spend``, ``<i>_base``, ``<i>_num`` and
    ``<i>_save`` for the i-th KPI of ``SQL_KPIS`` (``k0_...``), plus ``spend``."""
    sums = ["CAST(SUM(amortized) AS DECIMAL(38,10)) AS spend"]
    for i, k in enumerate(SQL_KPIS):
        sums += [
            f"CAST(SUM(amortized) FILTER (WHERE {k.eligible}) AS {_MONEY}) AS k{i}_spend",
            f"CAST(SUM({k.eligible_cost}) FILTER (WHERE {k.eligible}) AS {_MONEY}) AS k{i}_base",
            f"CAST(SUM({k.numerator_cost}) FILTER (WHERE {k.numerator}) AS {_MONEY}) AS k{i}_num",
            f"CAST(SUM({saving_sql(k)}) AS {_MONEY}) AS k{i}_save" if k.savings else "NULL",
        ]
    sets = ", ".join(f"(billing_period, {', '.join(cols)})" for cols in SCOPE_COLUMNS.values())
    return (
        "SELECT billing_period, owner, microservice, account_id,"
        " GROUPING(microservice) = 0 AS by_microservice, GROUPING(account_id) = 0 AS by_account,\n"
        f"  {', '.join(s for s in sums if s != 'NULL')}\nFROM {FACTS}\n"
        f"GROUP BY GROUPING SETS ({sets})"
    )


def _resources_sql() -> str:
    saves = [f"SUM({saving_sql(k)}) AS s{i}" for i, k in enumerate(SAVING_KPIS)]
    eligible = " OR ".join(f"({k.eligible})" for k in SAVING_KPIS)
    best = f"GREATEST({', '.join(f's{i}' for i in range(len(SAVING_KPIS)))})"
    arms = " ".join(
        f"WHEN s{i} = best AND best > 0 THEN '{k.name}'" for i, k in enumerate(SAVING_KPIS)
    )
    return f"""
CREATE OR REPLACE TEMP TABLE {RESOURCES} AS
WITH per_resource AS (
  SELECT billing_period, owner, microservice, account_id,
         CASE WHEN resource_id <> '' THEN resource_id ELSE usage_type END AS resource,
         resource_id <> '' AS named,
         CAST(SUM(amortized) AS {_MONEY}) AS spend,
         bool_or({eligible}) AS eligible,
         {", ".join(saves)}
  FROM {FACTS} GROUP BY ALL
),
best AS (SELECT *, {best} AS best FROM per_resource)
SELECT billing_period, owner, microservice, account_id, resource, named, spend, eligible,
       CASE {arms} END AS best_kpi,
       LEAST(best, GREATEST(spend, {_ZERO})) AS savings
FROM best
"""


RESOURCES_SQL = _resources_sql()
"""``kpi_resources``: per period, owner, microservice, account and resource: its spend, whether
any efficiency KPI finds it eligible, its best action's KPI and savings (at most its spend)."""
