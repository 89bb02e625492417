# ruff: noqa: S608  (SQL from the registry's fixed pieces and fixed names; values are bound)
"""The SQL that reads the pre-aggregates (``costlens.scorecards.facts``) into scorecards.

The refresh keeps, per billing period, owner, microservice and account, the sums of every
KPI's columns (``kpi_partials``), the eligible resources' spend and best-action savings
(``kpi_resource_totals``) and the actions (``kpi_actions``). Reading them is therefore small
work whatever the bill's size: ``kpi_sums_sql`` rolls the partial sums up to each scope (owner,
owner x microservice, account): for each KPI ``i`` of ``SQL_KPIS``, ``k<i>_spend`` (its eligible
spend, amortized), ``k<i>_base`` and ``k<i>_num`` (the denominator and numerator of its value in
the KPI's cost basis) and ``k<i>_save`` (its potential savings). A dated KPI (EBS snapshots,
dated by their first use in any period) is summed here from its own rows of ``kpi_facts``, and
its resources join the totals and actions (``TOTALS_SQL``, ``ACTIONS_SQL``).
"""

from __future__ import annotations

from costlens.scorecards.facts import (
    ACTION_RESOURCES,
    ACTIONS,
    FACTS,
    PARTIALS,
    RESOURCE_TOTALS,
    saving_sql,
)
from costlens.scorecards.registry import SQL_KPIS

__all__ = [
    "ACTIONS_SQL",
    "BEHIND",
    "DATED",
    "DATED_SQL",
    "SCOPE_COLUMNS",
    "TOTALS_SQL",
    "behind_sql",
    "kpi_sums_sql",
    "scoped",
]

SCOPE_COLUMNS = {
    "owner": ("owner",),
    "microservice": ("owner", "microservice"),
    "account": ("account_id",),
}
"""The columns that name a scorecard's subject, per scope."""

_MONEY = "DECIMAL(38,10)"
_MONEY_ZERO = f"CAST(0 AS {_MONEY})"
_SUBJECT = "billing_period, owner, microservice, account_id"
_SEEN = (
    f"seen AS (SELECT resource_id, MIN(first_date) AS snapshot_first_seen FROM {FACTS}"
    " WHERE snapshot_line GROUP BY 1)"
)
_DATED = [(i, k) for i, k in enumerate(SQL_KPIS) if k.dated]
_POOLED = [i for i, k in enumerate(SQL_KPIS) if k.pooled]
_USED = "line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage')"
_FEE = "line_item_type IN ('RIFee', 'SavingsPlanRecurringFee')"
_COMMITMENTS = (
    f"commitments AS (SELECT billing_period, commitment_discount_id,"
    f" SUM(amortized) FILTER (WHERE {_USED}) AS used,"
    f" SUM(amortized) FILTER (WHERE {_FEE}) AS unused,"
    f" SUM(unblended) FILTER (WHERE {_FEE}) AS fee"
    f" FROM {FACTS} WHERE commitment_discount_id <> '' GROUP BY ALL)"
)
"""Per month and commitment: the usage it covered, its unused part and its fee."""


def _pooled(i: int) -> str:
    """A scope's share of each commitment whose fee it carries: ``e<i>`` the fees, ``b<i>`` and
    ``n<i>`` the commitments' total and used parts, weighted by that share."""
    share = "CAST(f.carried AS DOUBLE) / CAST(c.fee AS DOUBLE)"
    total = "COALESCE(c.used, 0) + COALESCE(c.unused, 0)"
    return (
        f"SELECT f.billing_period, f.owner, f.microservice, f.account_id,"
        f" CAST(SUM(f.carried) AS {_MONEY}) AS e{i},"
        f" CAST(SUM({share} * CAST({total} AS DOUBLE)) AS {_MONEY}) AS b{i},"
        f" CAST(SUM({share} * CAST(COALESCE(c.used, 0) AS DOUBLE)) AS {_MONEY}) AS n{i}"
        f" FROM (SELECT {_SUBJECT}, commitment_discount_id, SUM(unblended) AS carried"
        f" FROM {FACTS} WHERE {_FEE} AND commitment_discount_id <> '' GROUP BY ALL) f"
        f" JOIN commitments c USING (billing_period, commitment_discount_id)"
        f" WHERE c.fee > 0 GROUP BY ALL"
    )


_DATED_ROWS = f"FROM {FACTS} JOIN seen USING (resource_id) WHERE snapshot_line"


def scoped(partial: str, sums: list[str]) -> str:
    """Roll the relation ``partial`` (rows per period, owner, microservice and account) up to
    every scope, with the aggregate ``sums``."""
    sets = ", ".join(f"(billing_period, {', '.join(cols)})" for cols in SCOPE_COLUMNS.values())
    return (
        f"SELECT {_SUBJECT}, GROUPING(microservice) = 0 AS by_microservice,"
        f" GROUPING(account_id) = 0 AS by_account,\n  {', '.join(sums)}\nFROM {partial}\n"
        f"GROUP BY GROUPING SETS ({sets})"
    )


def kpi_sums_sql() -> str:
    """One row per period and scope: ``spend`` and each KPI's four sums (see the module)."""
    outer = [f"CAST(SUM(spend) AS {_MONEY}) AS spend"]
    for i, k in enumerate(SQL_KPIS):
        outer += [
            f"CAST(SUM(e{i}) AS {_MONEY}) AS k{i}_spend",
            f"CAST(SUM(b{i}) AS {_MONEY}) AS k{i}_base",
            f"CAST(SUM(n{i}) AS {_MONEY}) AS k{i}_num",
        ]
        if k.savings:
            outer.append(f"CAST(SUM(s{i}) AS {_MONEY}) AS k{i}_save")
    dated = [
        f"SELECT {_SUBJECT}, SUM(num) AS n{i}, SUM(save) AS s{i} FROM {DATED}"
        f" WHERE kpi = '{k.name}' GROUP BY ALL"
        for i, k in _DATED
    ]
    pooled = [_pooled(i) for i in _POOLED]
    partial = "\nUNION ALL BY NAME\n".join([f"SELECT * FROM {PARTIALS}", *dated, *pooled])
    return f"WITH {_COMMITMENTS}, partial AS (\n{partial}\n)\n" + scoped("partial", outer)


DATED = "_kpi_dated"


def _dated_sql() -> str:
    parts = []
    for _, k in _DATED:
        save = f"SUM({saving_sql(k)})"
        parts.append(
            f"SELECT {_SUBJECT}, resource_id AS resource, '{k.name}' AS kpi,"
            f" CAST(SUM(amortized) AS {_MONEY}) AS spend,"
            f" CAST(SUM({k.numerator_cost}) FILTER (WHERE {k.numerator}) AS {_MONEY}) AS num,"
            f" CAST({save} AS {_MONEY}) AS save,"
            f" CAST(LEAST({save}, GREATEST(SUM(amortized), 0)) AS {_MONEY}) AS savings"
            f" {_DATED_ROWS} GROUP BY ALL"
        )
    union = "\nUNION ALL\n".join(parts) or (
        f"SELECT {_SUBJECT}, '' AS resource, '' AS kpi, {_MONEY_ZERO} AS spend,"
        f" {_MONEY_ZERO} AS num, {_MONEY_ZERO} AS save, {_MONEY_ZERO} AS savings"
        f" FROM {FACTS} WHERE FALSE"
    )
    return f"CREATE OR REPLACE TEMP TABLE {DATED} AS\nWITH {_SEEN}\n{union}"


DATED_SQL = _dated_sql()
"""``_kpi_dated``: per subject and resource of a dated KPI (EBS snapshots, dated by their first
use in any period), its spend, numerator, savings per row and savings at most its spend; read by
the three queries below, written once per ``compute_scorecards``."""

_DATED_RESOURCES = f"SELECT {_SUBJECT}, resource, spend, savings, kpi FROM {DATED}"


TOTALS_SQL = f"WITH dated AS ({_DATED_RESOURCES})\n" + scoped(
    f"""(SELECT * FROM {RESOURCE_TOTALS}
     UNION ALL BY NAME
     SELECT {_SUBJECT}, SUM(spend) AS eligible_spend, SUM(savings) AS savings
     FROM dated GROUP BY ALL)""",
    [
        f"CAST(COALESCE(SUM(eligible_spend), 0) AS {_MONEY}) AS eligible_spend",
        f"CAST(COALESCE(SUM(savings), 0) AS {_MONEY}) AS potential_savings",
    ],
)
"""Per period and scope: the spend of the eligible resources and the savings of their best
actions, counting each resource once."""

ACTIONS_SQL = f"""
WITH dated AS ({_DATED_RESOURCES})
SELECT billing_period, owner, microservice, kpi, resources, savings, resource_ids FROM (
  SELECT * FROM {ACTIONS}
  UNION ALL BY NAME
  SELECT billing_period, owner, microservice, kpi, count(*) AS resources,
         CAST(SUM(savings) AS {_MONEY}) AS savings,
         max_by(resource, struct_pack(s := savings, r := resource), {ACTION_RESOURCES})
           AS resource_ids
  FROM dated WHERE savings > 0 GROUP BY ALL
)
WHERE owner <> $unallocated
ORDER BY billing_period, owner, savings DESC, microservice, kpi
"""
"""Every owner's actions (``kpi_actions`` and the dated KPIs'), largest first."""


BEHIND = 20
"""Resources kept per KPI, owner and microservice in ``scorecard_resources``."""


def behind_sql() -> str:
    """For every KPI with savings, the resources behind them: per period, owner and
    microservice, the ``BEHIND`` resources (or usage types, for lines without an id) with the
    most savings, each with its spend and that KPI's savings."""
    parts = []
    for i, k in enumerate(SQL_KPIS):
        if not k.savings:
            continue
        save, rows = (saving_sql(k), _DATED_ROWS) if k.dated else (f"s{i}", f"FROM {FACTS}")
        parts.append(
            f"SELECT * FROM (SELECT billing_period, owner, microservice, '{k.name}' AS kpi,"
            " CASE WHEN resource_id <> '' THEN resource_id ELSE usage_type END AS resource,"
            f" CAST(SUM(amortized) AS {_MONEY}) AS spend, CAST(SUM({save}) AS {_MONEY})"
            f" AS savings {rows} GROUP BY ALL HAVING SUM({save}) > 0)"
            " QUALIFY row_number() OVER (PARTITION BY billing_period, owner, microservice"
            f" ORDER BY savings DESC, resource) <= {BEHIND}"
        )
    union = "\nUNION ALL\n".join(parts)
    return (
        f"WITH {_SEEN}\nSELECT * FROM ({union}) WHERE owner <> $unallocated\n"
        "ORDER BY billing_period, owner, microservice, kpi, savings DESC, resource"
    )
