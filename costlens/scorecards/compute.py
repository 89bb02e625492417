# ruff: noqa: S608  (SQL from fixed names; values are bound)
"""Scorecards from ``kpi_facts``: every KPI per period and scope, grades, savings and actions.

``compute_scorecards`` runs on a connection holding ``allocations`` and ``line_keys`` (the
warehouse during a refresh) and returns three frames, the snapshot's ``scorecard_kpis``,
``scorecards`` and ``scorecard_actions`` (``costlens.serving.tables``):

- each KPI's value (None: n/a, no eligible spend), goal (the owner's ``kpi_goals`` or the
  default), eligible spend, potential savings, CID's savings at goal, score and grade;
- per scorecard, the overall grade (the efficiency KPIs' scores weighted by their eligible
  spend) and its previous month's, the potential savings counting each resource once (its best
  action, at most its spend), and the owners' rank by those dollars;
- per owner and microservice, the actions in plain words naming the resources, by dollars.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from costlens.scorecards.facts import PERIOD_DAYS, ensure_facts
from costlens.scorecards.model import Kpi, grade
from costlens.scorecards.registry import EFFICIENCY, SQL_KPIS, kpi
from costlens.scorecards.sums import (
    ACTIONS_SQL,
    DATED,
    DATED_SQL,
    TOTALS_SQL,
    behind_sql,
    kpi_sums_sql,
)

__all__ = [
    "ACTION_COLUMNS",
    "CARD_COLUMNS",
    "KPI_COLUMNS",
    "RESOURCE_COLUMNS",
    "ScorecardInputs",
    "Scorecards",
    "compute_scorecards",
]

ZERO = Decimal(0)
UNALLOCATED = "unallocated"

KPI_COLUMNS = (
    "billing_period", "scope", "scope_id", "owner", "kpi", "detail", "value", "goal",
    "direction", "unit", "eligible_spend", "numerator", "denominator", "potential_savings",
    "savings_at_goal", "trend", "score", "grade",
)  # fmt: skip
CARD_COLUMNS = (
    "billing_period", "scope", "scope_id", "owner", "spend", "eligible_spend",
    "potential_savings", "savings_at_goal", "score", "grade", "previous_grade", "rank",
)  # fmt: skip
RESOURCE_COLUMNS = (
    "billing_period",
    "owner",
    "microservice",
    "kpi",
    "resource",
    "spend",
    "savings",
)
ACTION_COLUMNS = (
    "billing_period", "owner", "microservice", "kpi", "resources", "resource_ids", "savings",
    "text", "rank",
)  # fmt: skip


@dataclass(frozen=True)
class ScorecardInputs:
    """What the scorecards read besides the warehouse, loaded once before the refresh."""

    goals: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    """Per owner id, its ``kpi_goals`` (names checked against the registry)."""
    budgets: Mapping[str, Decimal] = field(default_factory=dict)
    """Per owner id, its monthly budget."""
    metrics: pd.DataFrame | None = None
    """Business metrics (``costlens.scorecards.metrics``): scope, scope_id, date, metric,
    value; None without a file."""
    anomalies: pd.DataFrame | None = None
    """Open incidents: dimension, value, owner, start_date, last_seen."""


@dataclass(frozen=True)
class Scorecards:
    """The three frames a refresh publishes."""

    kpis: pd.DataFrame
    cards: pd.DataFrame
    actions: pd.DataFrame
    resources: pd.DataFrame | None = None
    """With ``resources=True``: per KPI, owner and microservice, the resources behind its
    savings (``RESOURCE_COLUMNS``)."""


_Card = tuple[dt.date, str, str, str]
"""A card's key: billing period, scope, scope id and owner ('' for an account). A microservice
split between owners has a card per owner, each with that owner's share."""


def _scope(row: Mapping[str, Any]) -> tuple[str, str]:
    if row["by_account"]:
        return "account", str(row["account_id"])
    if row["by_microservice"]:
        return "microservice", str(row["microservice"])
    return "owner", str(row["owner"])


def _share(num: Decimal | None, base: Decimal | None) -> float | None:
    if base is None or base <= 0:
        return None
    return float((num or ZERO) / base)


def _at_goal_savings(k: Kpi, value: float | None, goal: Decimal, savings: Decimal) -> Decimal:
    """CID's savings at goal: the potential savings times the gap to the goal (0 at goal)."""
    if value is None or k.at_goal(value, goal):
        return ZERO
    gap = abs(Decimal(str(round(value, 10))) - goal)
    return (savings * gap).quantize(Decimal("1e-10"))


def _period_end(period: dt.date) -> dt.date:
    following = dt.date(period.year + period.month // 12, period.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _days(con: duckdb.DuckDBPyConnection) -> dict[dt.date, int]:
    rows = con.execute(f"SELECT billing_period, days FROM {PERIOD_DAYS}").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def _records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` with exact ``Decimal`` money (through Arrow, never float)."""
    table = con.sql(sql).to_arrow_table()
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _previous(period: dt.date) -> dt.date:
    return (period - dt.timedelta(days=1)).replace(day=1)


class _Rows:
    """Collects ``scorecard_kpis`` rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        key: tuple[dt.date, str, str, str],
        k: Kpi,
        value: float | None,
        goal: Decimal,
        *,
        eligible: Decimal | None = None,
        numerator: Decimal | None = None,
        denominator: Decimal | None = None,
        savings: Decimal | None = None,
        trend: float | None = None,
        detail: str = "",
    ) -> None:
        graded = trend if k.unit == "unit_cost" else value
        score = k.score(graded, goal)
        at_goal = None if savings is None else _at_goal_savings(k, value, goal, savings)
        period, scope, scope_id, owner = key
        self.rows.append(
            dict(
                billing_period=period, scope=scope, scope_id=scope_id, owner=owner, kpi=k.name,
                detail=detail, value=value, goal=goal, direction=k.direction, unit=k.unit,
                eligible_spend=eligible, numerator=numerator, denominator=denominator,
                potential_savings=savings, savings_at_goal=at_goal, trend=trend, score=score,
                grade=grade(score),
            )
        )  # fmt: skip


def _goal(inputs: ScorecardInputs, owner: str, k: Kpi) -> Decimal:
    return inputs.goals.get(owner, {}).get(k.name, k.default_goal)


def compute_scorecards(
    con: duckdb.DuckDBPyConnection,
    inputs: ScorecardInputs | None = None,
    *,
    resources: bool = False,
) -> Scorecards:
    """Every scorecard of every billing period of ``con``'s ``allocations`` (and, with
    ``resources``, the resources behind each KPI's savings)."""
    inputs = inputs or ScorecardInputs()
    if not ensure_facts(con):
        return Scorecards(
            pd.DataFrame(columns=list(KPI_COLUMNS)),
            pd.DataFrame(columns=list(CARD_COLUMNS)),
            pd.DataFrame(columns=list(ACTION_COLUMNS)),
            pd.DataFrame(columns=list(RESOURCE_COLUMNS)) if resources else None,
        )
    con.execute(DATED_SQL)
    sums = _records(con, kpi_sums_sql())
    days = _days(con)
    rows = _Rows()
    spend: dict[_Card, Decimal] = {}
    for row in sums:
        scope, scope_id = _scope(row)
        owner = "" if scope == "account" else str(row["owner"])
        if owner == UNALLOCATED:
            continue
        period = row["billing_period"]
        key = (period, scope, scope_id, owner)
        spend[key] = row["spend"] or ZERO
        for i, k in enumerate(SQL_KPIS):
            base, num = row[f"k{i}_base"], row[f"k{i}_num"]
            rows.add(
                key, k, _share(num, base), _goal(inputs, owner, k),
                eligible=row[f"k{i}_spend"] or ZERO, numerator=num or ZERO,
                denominator=base or ZERO,
                savings=(row[f"k{i}_save"] or ZERO) if k.savings else None,
            )  # fmt: skip
    _governance(rows, inputs, spend, days)
    kpis = pd.DataFrame(rows.rows, columns=list(KPI_COLUMNS))
    cards = _cards(con, rows.rows, spend)
    actions = _actions(con)
    behind = None
    if resources:
        table = con.sql(behind_sql(), params={"unallocated": UNALLOCATED}).to_arrow_table()
        behind = table.to_pandas(date_as_object=True)
    con.execute(f"DROP TABLE IF EXISTS {DATED}")
    return Scorecards(kpis, cards, actions, behind)


def _governance(
    rows: _Rows,
    inputs: ScorecardInputs,
    spend: Mapping[_Card, Decimal],
    days: Mapping[dt.date, int],
) -> None:
    growth, budget, anomalies, unit = (
        kpi(n) for n in ("cost_growth", "budget_adherence", "open_anomalies", "unit_cost")
    )
    open_incidents = inputs.anomalies
    for key, cost in sorted(spend.items()):
        period, scope, scope_id, owner = key
        before = spend.get((_previous(period), scope, scope_id, owner))
        n, m = days.get(period, 0), days.get(_previous(period), 0)
        value = None
        if before is not None and before > 0 and n and m:
            value = float((cost / n) / (before / m)) - 1.0
        rows.add(key, growth, value, _goal(inputs, owner, growth), eligible=cost)
        if scope == "owner" and scope_id in inputs.budgets:
            limit = inputs.budgets[scope_id]
            full = (_period_end(period) - period).days + 1
            projected = cost / n * full if n else cost
            ratio = float(projected / limit) if limit > 0 else None
            rows.add(key, budget, ratio, _goal(inputs, owner, budget), eligible=cost)
        if open_incidents is not None:
            count = _open_count(open_incidents, period, scope, scope_id)
            rows.add(key, anomalies, float(count), _goal(inputs, owner, anomalies))
        if inputs.metrics is not None:
            _unit_costs(rows, inputs, key, cost, before, unit)


def _open_count(frame: pd.DataFrame, period: dt.date, scope: str, scope_id: str) -> int:
    active = (frame["start_date"] <= _period_end(period)) & (frame["last_seen"] >= period)
    if scope == "owner":
        mine = frame["owner"] == scope_id
    else:
        dimension = "account_id" if scope == "account" else "microservice"
        mine = (frame["dimension"] == dimension) & (frame["value"] == scope_id)
    return int((active & mine).sum())


def _unit_costs(
    rows: _Rows,
    inputs: ScorecardInputs,
    key: tuple[dt.date, str, str, str],
    cost: Decimal,
    before: Decimal | None,
    k: Kpi,
) -> None:
    period, scope, scope_id, owner = key
    metrics = inputs.metrics
    assert metrics is not None
    mine = metrics[(metrics["scope"] == scope) & (metrics["scope_id"] == scope_id)]
    for metric, group in mine.groupby("metric", sort=True):
        units = _units(group, period)
        if units is None or units <= 0:
            continue
        value = float(cost / units)
        earlier = _units(group, _previous(period))
        trend = None
        if before is not None and earlier and earlier > 0 and before > 0:
            trend = value / float(before / earlier) - 1.0
        rows.add(
            key, k, value, _goal(inputs, owner, k), eligible=cost, numerator=cost,
            denominator=units, trend=trend, detail=str(metric),
        )  # fmt: skip


def _units(group: pd.DataFrame, period: dt.date) -> Decimal | None:
    inside = group[(group["date"] >= period) & (group["date"] <= _period_end(period))]
    if inside.empty:
        return None
    return Decimal(sum(inside["value"], ZERO))


_EFFICIENCY_NAMES = frozenset(k.name for k in EFFICIENCY)


def _overall(group: Sequence[Mapping[str, Any]]) -> float | None:
    """The efficiency KPIs' scores weighted by their eligible spend (None: none rated)."""
    rated = [
        (float(r["score"]), float(r["eligible_spend"] or 0))
        for r in group
        if r["kpi"] in _EFFICIENCY_NAMES and r["score"] is not None
    ]
    weight = sum(w for _, w in rated)
    if weight <= 0:
        return None
    return sum(s * w for s, w in rated) / weight


def _cards(
    con: duckdb.DuckDBPyConnection,
    kpis: Sequence[Mapping[str, Any]],
    spend: Mapping[_Card, Decimal],
) -> pd.DataFrame:
    totals = {}
    for row in _records(con, TOTALS_SQL):
        scope, scope_id = _scope(row)
        owner = "" if scope == "account" else str(row["owner"])
        totals[(row["billing_period"], scope, scope_id, owner)] = row
    groups: dict[_Card, list[Mapping[str, Any]]] = {}
    for r in kpis:
        card_key = (r["billing_period"], r["scope"], r["scope_id"], r["owner"])
        groups.setdefault(card_key, []).append(r)
    cards: dict[_Card, dict[str, Any]] = {}
    for key, cost in sorted(spend.items()):
        period, scope, scope_id, owner = key
        group = groups.get(key, [])
        score = _overall(group)
        total = totals.get(key, {})
        savings = total.get("potential_savings", ZERO)
        # the KPIs' savings at goal overlap as their savings do: never more than the total
        at_goal = sum((r["savings_at_goal"] for r in group if r["savings_at_goal"]), ZERO)
        cards[key] = dict(
            billing_period=period, scope=scope, scope_id=scope_id, owner=owner, spend=cost,
            eligible_spend=total.get("eligible_spend", ZERO), potential_savings=savings,
            savings_at_goal=min(at_goal, savings), score=score, grade=grade(score),
            previous_grade=None, rank=None,
        )  # fmt: skip
    for (period, scope, scope_id, owner), card in cards.items():
        before = cards.get((_previous(period), scope, scope_id, owner))
        card["previous_grade"] = before["grade"] if before else None
    ranked = sorted(
        (c for c in cards.values() if c["scope"] == "owner"),
        key=lambda c: (c["billing_period"], -c["potential_savings"], c["scope_id"]),
    )
    place: dict[dt.date, int] = {}
    for card in ranked:
        card["rank"] = place[card["billing_period"]] = place.get(card["billing_period"], 0) + 1
    return pd.DataFrame(list(cards.values()), columns=list(CARD_COLUMNS))


def _action_text(
    microservice: str, k: Kpi, count: int, ids: Sequence[str], savings: Decimal
) -> str:
    things = k.things[0] if count == 1 else k.things[1]
    named = ", ".join(ids)
    if named and count > len(ids):
        named += f", and {count - len(ids)} more"
    where = f" ({named})" if named else ""
    dollars = f"{savings.quantize(Decimal(1)):,}"
    return (
        f"{microservice}: {k.action.format(n=count, things=things)}{where}, about ${dollars}/month"
    )


def _actions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    rows = []
    rank: dict[tuple[dt.date, str], int] = {}
    for r in con.execute(ACTIONS_SQL, {"unallocated": UNALLOCATED}).fetchall():
        period, owner, microservice, name, count, savings, ids = r
        k = kpi(str(name))
        ids = [str(i) for i in (ids or [])]
        place = rank[(period, owner)] = rank.get((period, owner), 0) + 1
        rows.append(
            dict(
                billing_period=period, owner=owner, microservice=microservice, kpi=k.name,
                resources=int(count), resource_ids=json.dumps(ids), savings=savings,
                text=_action_text(str(microservice), k, int(count), ids, savings), rank=place,
            )
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(ACTION_COLUMNS))
