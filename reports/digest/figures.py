"""The figures of one owner's weekly digest and of the leadership ranking, read through
``costlens.queries`` only (no SQL here): the same numbers the dashboard shows for that week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from costlens import queries
from costlens.anomalies.describe import describe_followed, describe_hourly
from costlens.attribution.owners import Owner
from costlens.queries import CostType, Snapshot
from reports.digest.week import IsoWeek

__all__ = [
    "AnomalyLine",
    "LeadershipDigest",
    "LeadershipRow",
    "Mover",
    "OwnerDigest",
    "TableRow",
    "change_percent",
    "leadership_digest",
    "owner_digest",
]

CHART_WEEKS = 8
MOVERS = 5


def change_percent(previous: Decimal, current: Decimal) -> Decimal | None:
    """Change in percent, one decimal; None without previous spend.

    >>> change_percent(Decimal("100"), Decimal("108.2"))
    Decimal('8.2')
    >>> change_percent(Decimal("0"), Decimal("5")) is None
    True
    """
    if not previous:
        return None
    return ((current - previous) / abs(previous) * 100).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class TableRow:
    """One account × region of the week table."""

    account_id: str
    account_name: str
    region: str
    previous: Decimal
    current: Decimal

    @property
    def percent(self) -> Decimal | None:
        """Week-on-week change in percent."""
        return change_percent(self.previous, self.current)


@dataclass(frozen=True)
class Mover:
    """A microservice whose week spend changed."""

    microservice: str
    previous: Decimal
    current: Decimal

    @property
    def delta(self) -> Decimal:
        """Current minus previous week."""
        return self.current - self.previous

    @property
    def percent(self) -> Decimal | None:
        """Week-on-week change in percent."""
        return change_percent(self.previous, self.current)


@dataclass(frozen=True)
class AnomalyLine:
    """An anomaly incident that overlaps the week."""

    anomaly_id: str
    dimension: str
    value: str
    start_date: dt.date
    ongoing: bool
    new: bool
    impact: Decimal
    root_cause: str
    followed: str | None = None
    """The change followed to its end (``describe_followed``), as of the data's last day."""


@dataclass(frozen=True)
class OwnerDigest:
    """Everything one owner's mail says about one week."""

    owner: str
    display_name: str
    emails: tuple[str, ...]
    week: IsoWeek
    cost_type: str
    """The cost type of the spend figures (the dashboard's default: unblended)."""
    total: Decimal
    previous: Decimal
    four_weeks_ago: Decimal
    weekly: tuple[tuple[IsoWeek, Decimal], ...]
    """The last ``CHART_WEEKS`` weeks, oldest first, for the chart."""
    table: tuple[TableRow, ...]
    movers: tuple[Mover, ...]
    anomalies: tuple[AnomalyLine, ...]
    plan_cost_type: str
    """The cost type of budgets, forecasts and savings (amortized)."""
    billing_period: dt.date | None = None
    """The month of the week's last day (or of the data's, if earlier)."""
    through: dt.date | None = None
    """The last day ``month_to_date`` covers: the week's last day, or the data's if earlier."""
    month_to_date: Decimal | None = None
    budget: Decimal | None = None
    budget_status: str | None = None
    projected: Decimal | None = None
    lower: Decimal | None = None
    upper: Decimal | None = None
    forecast_through: dt.date | None = None
    """The last day of data the forecast and budget status were made on (the snapshot's), set
    only when the forecast is of ``billing_period``."""
    grade: str | None = None
    previous_grade: str | None = None
    potential_savings: Decimal | None = None
    actions: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def percent(self) -> Decimal | None:
        """The week against the week before, in percent."""
        return change_percent(self.previous, self.total)

    @property
    def percent_four_weeks(self) -> Decimal | None:
        """The week against the same week four weeks earlier, in percent."""
        return change_percent(self.four_weeks_ago, self.total)


def _money(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _by_week(frame: Any, key: str | None = None) -> dict[Any, Decimal]:
    out: dict[Any, Decimal] = {}
    for row in frame.itertuples(index=False):
        week = IsoWeek.of(row.period)
        k = week if key is None else (week, *(getattr(row, c) for c in key.split(",")))
        out[k] = out.get(k, Decimal(0)) + _money(row.cost)
    return out


def _first(frame: Any, column: str, value: str) -> dict[str, Any] | None:
    rows = frame[frame[column] == value]
    return None if rows.empty else dict(rows.iloc[0])


def _opt(value: object) -> Decimal | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    return _money(value)


def _followed(event: Mapping[Any, Any]) -> str | None:
    if event.get("grain") == "hour":  # not followed yet: the daily scan will
        return describe_hourly(event["started_at"], _money(event["impact_cost"]))
    said = describe_followed(
        event["follow_state"], _opt_date(event["settled_since"]), event["start_date"],
        event["followed_until"], _opt(event["total_impact"]), _opt(event["daily_excess"]),
    )  # fmt: skip
    return None if said is None else f"{said[:-1]} (data through {event['followed_until']})."


def _opt_date(value: object) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def owner_digest(
    snap: Snapshot, owner: Owner, week: IsoWeek, *, cost_type: CostType = "unblended"
) -> OwnerDigest:
    """Gather ``owner``'s figures of ``week`` in ``cost_type`` (plans in the budgets' type)."""
    where = {"owner": [owner.id]}
    first = week.shift(-(CHART_WEEKS - 1))
    weekly = _by_week(
        queries.spend(
            snap, grain="week", cost_type=cost_type, start=first.start, end=week.end, where=where
        )
    )
    chart = tuple(
        (first.shift(i), weekly.get(first.shift(i), Decimal(0))) for i in range(CHART_WEEKS)
    )
    prev = week.shift(-1)
    cells = _by_week(
        queries.spend(
            snap,
            grain="week",
            by=("account_id", "region"),
            cost_type=cost_type,
            start=prev.start,
            end=week.end,
            where=where,
        ),
        "account_id,region",
    )
    names = queries.account_names(snap)
    keys = sorted({k[1:] for k in cells})
    table = [
        TableRow(
            str(a),
            names.get(str(a), str(a)),
            str(r) if r else "global",
            cells.get((prev, a, r), Decimal(0)),
            cells.get((week, a, r), Decimal(0)),
        )
        for a, r in keys
    ]
    table.sort(key=lambda t: (-t.current, t.account_id, t.region))
    ms = _by_week(
        queries.spend(
            snap,
            grain="week",
            by=("microservice",),
            cost_type=cost_type,
            start=prev.start,
            end=week.end,
            where=where,
        ),
        "microservice",
    )
    movers = [
        Mover(str(m), ms.get((prev, m), Decimal(0)), ms.get((week, m), Decimal(0)))
        for m in sorted({k[1] for k in ms})
    ]
    movers = [m for m in movers if m.delta]
    movers.sort(key=lambda m: (-abs(m.delta), m.microservice))
    found = queries.anomalies(snap, owner=owner.id, start=week.start, end=week.end)
    lines = tuple(
        AnomalyLine(
            anomaly_id=str(r["anomaly_id"]),
            dimension=str(r["dimension"]),
            value=str(r["value"]),
            start_date=r["start_date"],
            ongoing=bool(r["ongoing"]),
            new=r["start_date"] >= week.start,
            impact=_money(r["impact_cost"]),
            root_cause=str(r["top_driver"] or ""),
            followed=_followed(r),
        )
        for r in found.to_dict("records")
    )
    plan = _plan(snap, owner, week)
    card = _first(queries.owner_ranking(snap), "scope_id", owner.id)
    actions = tuple(queries.top_actions(snap, owner.id, 3)) if card else ()
    return OwnerDigest(
        owner=owner.id,
        display_name=owner.display_name,
        emails=owner.emails,
        week=week,
        cost_type=cost_type,
        total=weekly.get(week, Decimal(0)),
        previous=weekly.get(prev, Decimal(0)),
        four_weeks_ago=weekly.get(week.shift(-4), Decimal(0)),
        weekly=chart,
        table=tuple(table),
        movers=tuple(movers[:MOVERS]),
        anomalies=lines,
        plan_cost_type=snap.info.anomaly_cost_type,
        **plan,
        grade=str(card["grade"]) if card else None,
        previous_grade=str(card["previous_grade"]) if card and card["previous_grade"] else None,
        potential_savings=_opt(card["potential_savings"]) if card else None,
        actions=actions,
    )


def _plan(snap: Snapshot, owner: Owner, week: IsoWeek) -> dict[str, Any]:
    """Month to date through the week's end against the budget, in the budgets' cost type; the
    forecast and budget status only when the snapshot's forecast is of that same month (they
    are made on all the data, which may run past the week: ``forecast_through`` says so)."""
    last = snap.info.last_date
    if last is None or last < week.start:
        return {}
    through = min(week.end, last)
    month = through.replace(day=1)
    plan_type: CostType = snap.info.anomaly_cost_type  # type: ignore[assignment]
    spent = queries.spend(
        snap, grain="month", cost_type=plan_type, start=month, end=through,
        where={"owner": [owner.id]},
    )  # fmt: skip
    mtd = sum((_money(c) for c in spent["cost"]), Decimal(0))
    out: dict[str, Any] = {
        "billing_period": month,
        "through": through,
        "month_to_date": mtd,
        "budget": owner.monthly_budget,
    }
    forecast = _first(queries.forecasts(snap), "owner", owner.id)
    if forecast and forecast["billing_period"] == month:
        budget = _first(queries.budgets(snap), "owner", owner.id)
        out |= {
            "projected": _opt(forecast["projected"]),
            "lower": _opt(forecast["lower"]),
            "upper": _opt(forecast["upper"]),
            "forecast_through": last,
            "budget_status": str(budget["status"]) if budget else None,
        }
    elif owner.monthly_budget is not None and mtd > owner.monthly_budget:
        out["budget_status"] = "over"
    return out


@dataclass(frozen=True)
class LeadershipRow:
    """One owner in the leadership ranking."""

    owner: str
    display_name: str
    total: Decimal
    previous: Decimal
    budget_status: str | None
    potential_savings: Decimal | None

    @property
    def percent(self) -> Decimal | None:
        """Week-on-week change in percent."""
        return change_percent(self.previous, self.total)


@dataclass(frozen=True)
class LeadershipDigest:
    """All owners ranked by the week's spend."""

    week: IsoWeek
    cost_type: str
    plan_cost_type: str
    rows: tuple[LeadershipRow, ...]

    @property
    def total(self) -> Decimal:
        """All owners' spend of the week."""
        return sum((r.total for r in self.rows), Decimal(0))

    @property
    def previous(self) -> Decimal:
        """All owners' spend of the week before."""
        return sum((r.previous for r in self.rows), Decimal(0))


def leadership_digest(
    snap: Snapshot, owners: Sequence[Owner], week: IsoWeek, *, cost_type: CostType = "unblended"
) -> LeadershipDigest:
    """Every owner's week spend, change, budget status and savings left, largest spend first."""
    prev = week.shift(-1)
    cells = _by_week(
        queries.spend(
            snap, grain="week", by=("owner",), cost_type=cost_type, start=prev.start, end=week.end
        ),
        "owner",
    )
    ranking = queries.owner_ranking(snap)
    rows = []
    for o in owners:
        c = _first(ranking, "scope_id", o.id)
        rows.append(
            LeadershipRow(
                o.id,
                o.display_name,
                cells.get((week, o.id), Decimal(0)),
                cells.get((prev, o.id), Decimal(0)),
                _plan(snap, o, week).get("budget_status"),
                _opt(c["potential_savings"]) if c else None,
            )
        )
    rows.sort(key=lambda r: (-r.total, r.owner))
    return LeadershipDigest(week, cost_type, snap.info.anomaly_cost_type, tuple(rows))
