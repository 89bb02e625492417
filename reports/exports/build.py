"""A month-end showback from the published snapshot: ``build_showback`` asks ``costlens.queries``
and lays the answers out as the sheets of a ``Showback``; the writers turn it into files.

Nothing here writes SQL or sums money the queries did not sum, but the total rows of the
sheets (exact ``Decimal`` additions of the rows above them), and every figure is checked: the
Detail's total equals the Summary's, and each reconciliation difference is 0.00 in every cost
type, or ``Showback.reconciled`` is False and the caller says so loudly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from costlens import queries
from costlens.errors import QueryError
from costlens.queries import DIMENSION_LABELS, Snapshot
from reports.exports.model import Col, Sheet, Showback

__all__ = ["BUDGET_NOTE", "build_showback", "export_periods"]

BUDGET_NOTE = "Budgets are monthly, in {budget_type} cost (as budgets are kept)."

_TYPE_LABELS = {
    "unblended": "unblended",
    "amortized": "amortized",
    "net_amortized": "net amortized",
}


def _label(dimension: str) -> str:
    return DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").capitalize())


def _month(period: dt.date) -> str:
    return f"{period:%Y-%m}"


def export_periods(snap: Snapshot, start: dt.date, end: dt.date | None) -> list[dt.date]:
    """The billing periods from ``start`` to ``end`` (default: ``start``) that the snapshot
    holds; a ``QueryError`` naming the available months when one of them has no line items."""
    end = end or start
    if end < start:
        raise QueryError(
            f"--to {_month(end)} is before --period {_month(start)}",
            where="--to",
            fix="give --to a month at or after --period",
        )
    known = list(queries.finance_periods(snap)["billing_period"])
    have = f"the data covers {_month(known[0])} to {_month(known[-1])}" if known else ""
    missing = [p for p in _months(start, end) if p not in known]
    if missing:
        raise QueryError(
            f"no line items for {', '.join(_month(p) for p in missing)}"
            + (f" ({have})" if have else ""),
            where="--period" if start in missing else "--to",
            fix="choose months the data covers" if known else "run `costlens sync` first",
        )
    return [p for p in known if start <= p <= end]


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, month = [], start.replace(day=1)
    while month <= end:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def _rows(frame: pd.DataFrame, names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The frame's ``names`` columns as tuples; NaN/NaT and pandas' missing values as None."""
    out = []
    for values in frame[list(names)].itertuples(index=False, name=None):
        out.append(tuple(None if _missing(v) else v for v in values))
    return out


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _total_row(
    rows: list[tuple[Any, ...]], columns: Sequence[Col], label_at: int, label: str = "Total"
) -> tuple[Any, ...]:
    """A row summing each money column of ``rows`` exactly; ``label`` in column ``label_at``."""
    total: list[Any] = [None] * len(columns)
    for i, col in enumerate(columns):
        if col.kind == "money":
            total[i] = sum((r[i] for r in rows if r[i] is not None), Decimal(0))
    total[label_at] = label
    return tuple(total)


def _sheet(
    name: str, frame: pd.DataFrame, columns: Sequence[Col], note: str, *, total: bool = False
) -> Sheet:
    """The sheet of ``frame``'s ``columns`` (with a total row of its money columns if asked)."""
    rows = _rows(frame, [c.name for c in columns])
    if total:
        rows.append(_total_row(rows, columns, 1))
    return Sheet(name, tuple(columns), rows, total_row=total, note=note)


def _summary(snap: Snapshot, start: dt.date, end: dt.date, cost_type: str) -> Sheet:
    frame = queries.showback_summary(snap, start, end, cost_type=cost_type)  # type: ignore[arg-type]
    kind = _TYPE_LABELS[cost_type]
    budget_type = _TYPE_LABELS.get(snap.info.anomaly_cost_type, snap.info.anomaly_cost_type)
    columns = [
        Col("billing_period", "Billing period", "date"),
        Col("owner", "Owner", "text"),
        Col("display_name", "Name", "text"),
        Col("direct", f"Direct ({kind})", "money"),
        Col("shared", f"Shared ({kind})", "money"),
        Col("total", f"Total ({kind})", "money"),
        Col("adjustments", f"Restatement adjustments ({kind})", "money"),
        Col("total_adjusted", f"Total with adjustments ({kind})", "money"),
        Col("previous_total", f"Previous month ({kind})", "money"),
        Col("change", "Month-over-month change", "money"),
        Col("change_share", "Change %", "percent"),
        Col("budget", f"Monthly budget ({budget_type})", "money"),
        Col("budget_cost", f"Total ({budget_type})", "money"),
        Col("variance", f"Variance to budget ({budget_type})", "money"),
        Col("variance_share", "Variance %", "percent"),
    ]
    if cost_type == snap.info.anomaly_cost_type:  # one cost type: the budget's total is `total`
        columns = [c for c in columns if c.name != "budget_cost"]
    note = f"Cost per owner in {kind} cost. " + BUDGET_NOTE.format(budget_type=budget_type)
    return _sheet("Summary", frame, columns, note, total=True)


def _detail(
    snap: Snapshot, start: dt.date, end: dt.date, cost_type: str, by: Sequence[str]
) -> Sheet:
    frame = queries.showback_detail(snap, start, end, cost_type=cost_type, by=by)  # type: ignore[arg-type]
    dims = [c for c in frame.columns if c not in ("billing_period", "cost")]
    columns = (
        Col("billing_period", "Billing period", "date"),
        *(Col(d, _label(d), "text") for d in dims),
        Col("cost", f"Cost ({_TYPE_LABELS[cost_type]})", "money"),
    )
    dimensions = ", ".join(_label(d).lower() for d in dims)
    note = f"Every allocated dollar in {_TYPE_LABELS[cost_type]} cost, by {dimensions}."
    return _sheet("Detail", frame, columns, note)


def _shared(snap: Snapshot, start: dt.date, end: dt.date, cost_type: str) -> Sheet:
    frame = queries.shared_costs(snap, start, end, cost_type=cost_type)  # type: ignore[arg-type]
    kind = _TYPE_LABELS[cost_type]
    columns = (
        Col("billing_period", "Billing period", "date"),
        Col("rule", "Split", "text"),
        Col("method", "Method", "text"),
        Col("basis", "Shares computed on", "text"),
        Col("source_cost", f"Source cost ({kind})", "money"),
        Col("owner", "Owner", "text"),
        Col("amount", f"Owner's share ({kind})", "money"),
        Col("share", "Share %", "percent"),
    )
    note = "Each shared-cost split of rules.yaml: what it distributed and each owner's share."
    return _sheet("Shared costs", frame, columns, note)


def _unallocated(snap: Snapshot, start: dt.date, end: dt.date, cost_type: str) -> Sheet:
    frame = queries.unallocated_costs(snap, start, end, cost_type=cost_type)  # type: ignore[arg-type]
    columns = (
        Col("billing_period", "Billing period", "date"),
        Col("account_id", "Account", "text"),
        Col("service_code", "AWS service", "text"),
        Col("cost", f"Cost ({_TYPE_LABELS[cost_type]})", "money"),
        Col("resources", "Resources", "count"),
        Col("top_resources", "Top resources", "text"),
    )
    note = "What no rule attributed: add a rule or a tag to give it an owner."
    return _sheet("Unallocated", frame, columns, note, total=True)


_RECONCILIATION_COLUMNS = (
    Col("billing_period", "Billing period", "date"),
    Col("check", "Check", "text"),
    Col("payer_account_id", "Payer account", "text"),
    Col("invoice_id", "Invoice", "text"),
    Col("delivery_id", "Delivery", "text"),
    Col("line_items", "Line items", "money"),
    Col("direct", "Direct", "money"),
    Col("shared", "Shared", "money"),
    Col("unallocated", "Unallocated", "money"),
    Col("adjustments", "Adjustments", "money"),
    Col("compared", "Allocated or delivered", "money"),
    Col("difference", "Difference", "money"),
)


def _reconciliation(
    snap: Snapshot, start: dt.date, end: dt.date, cost_type: str
) -> tuple[Sheet, dict[str, Decimal]]:
    """The sheet in ``cost_type`` and each cost type's largest absolute difference."""
    worst: dict[str, Decimal] = {}
    frame = pd.DataFrame()
    for each in queries.COST_TYPES:
        got = queries.reconciliation(snap, start, end, cost_type=each)  # type: ignore[arg-type]
        diffs = [abs(Decimal(d)) for d in got["difference"]]
        worst[each] = max(diffs, default=Decimal(0))
        if each == cost_type:
            frame = got
    kind = _TYPE_LABELS[cost_type]
    note = (
        f"In {kind} cost. Allocations: per payer account and invoice, the line items = direct"
        " + shared + unallocated (+ restatement adjustments of a closed month). Ledger: per"
        " delivery, the line items loaded = the totals recorded when its files were read."
        " Every difference must be 0.00."
    )
    return _sheet("Reconciliation", frame, _RECONCILIATION_COLUMNS, note), worst


def _bridge(snap: Snapshot, start: dt.date, end: dt.date, cost_type: str) -> Sheet:
    frame = queries.amortization_bridge(snap, start, end, cost_type=cost_type)  # type: ignore[arg-type]
    kind = _TYPE_LABELS[cost_type]
    columns = (
        Col("billing_period", "Billing period", "date"),
        Col("line_item_type", "Line item type", "text"),
        Col("unblended", "Unblended (invoice)", "money"),
        Col("cost", kind.capitalize(), "money"),
        Col("difference", "Difference", "money"),
    )
    note = (
        f"From the invoice (unblended) to {kind} cost by line item type: commitment fees"
        " spread over the usage they cover, Savings Plan negations, covered usage."
    )
    return _sheet("Bridge", frame, columns, note, total=True)


def _adjustments(snap: Snapshot, start: dt.date, end: dt.date, cost_type: str) -> Sheet:
    frame = queries.adjustments(snap, start, end, cost_type=cost_type)  # type: ignore[arg-type]
    columns = (
        Col("billing_period", "Closed billing period", "date"),
        Col("recorded_at", "Recorded", "date"),
        Col("owner", "Owner", "text"),
        Col("microservice", "Microservice", "text"),
        Col("payer_account_id", "Payer account", "text"),
        Col("invoice_id", "Invoice", "text"),
        Col("account_id", "Account", "text"),
        Col("service_code", "AWS service", "text"),
        Col("amount", f"Adjustment ({_TYPE_LABELS[cost_type]})", "money"),
        Col("delivery_id", "Restating delivery", "text"),
    )
    rows = _rows(frame, [c.name for c in columns])
    rows = [(r[0], r[1].date() if isinstance(r[1], dt.datetime) else r[1], *r[2:]) for r in rows]
    note = (
        "Restatements by AWS of closed months, recorded after the close: the closed figures"
        " stay as they were; these rows make them equal to the line items."
    )
    if not rows:
        note = "No restatement of a closed month."
    return Sheet("Adjustments", columns, rows, note=note)


def build_showback(
    snap: Snapshot,
    start: dt.date,
    end: dt.date | None = None,
    *,
    cost_type: str = "unblended",
    by: Sequence[str] = (),
) -> Showback:
    """The showback of billing periods ``start`` to ``end`` (default: ``start``) in
    ``cost_type``, with the Detail also by the ``by`` dimensions (``snap.dimensions``).

    ``QueryError`` for a month without line items, a range that ends before it starts, an
    unknown cost type or dimension."""
    queries.dimension_column(snap, "owner")  # (the snapshot opens; a bad one says so)
    periods = export_periods(snap, start, end)
    first, last = periods[0], periods[-1]
    for dimension in by:
        queries.dimension_column(snap, dimension)
    if cost_type not in queries.COST_TYPES:
        raise QueryError(
            f"unknown cost type {cost_type!r}",
            where="--cost-type",
            fix=f"use one of: {', '.join(queries.COST_TYPES)}",
        )
    status = queries.finance_periods(snap, cost_type=cost_type)  # type: ignore[arg-type]
    status = status[status["billing_period"].between(first, last)]
    not_final = frozenset(
        p for p, f in zip(status["billing_period"], status["final"], strict=True) if not f
    )
    summary = _summary(snap, first, last, cost_type)
    detail = _detail(snap, first, last, cost_type, by)
    reconciliation, worst = _reconciliation(snap, first, last, cost_type)
    total = sum((r[-1] for r in detail.rows), Decimal(0))
    summary_total = summary.rows[-1][summary.names.index("total")]
    if total != summary_total:  # two questions of one snapshot: a bug if they ever differ
        raise QueryError(
            f"the Detail sums to {total} but the Summary to {summary_total}",
            fix="this is a bug in costlens: please report it",
        )
    deliveries = queries.finance_deliveries(snap, first, last, cost_type=cost_type)  # type: ignore[arg-type]
    return Showback(
        periods=tuple(periods),
        cost_type=cost_type,
        by=tuple(by),
        summary=summary,
        detail=detail,
        shared=_shared(snap, first, last, cost_type),
        unallocated=_unallocated(snap, first, last, cost_type),
        reconciliation=reconciliation,
        adjustments=_adjustments(snap, first, last, cost_type),
        bridge=None if cost_type == "unblended" else _bridge(snap, first, last, cost_type),
        assumptions=_assumptions(snap, periods, cost_type, status, deliveries, worst),
        not_final=not_final,
        differences=worst,
        total=total,
        built_at=snap.info.built_at,
    )


def _assumptions(
    snap: Snapshot,
    periods: Sequence[dt.date],
    cost_type: str,
    status: pd.DataFrame,
    deliveries: pd.DataFrame,
    worst: dict[str, Decimal],
) -> list[tuple[str, str]]:
    info = snap.info
    span = _month(periods[0])
    if len(periods) > 1:
        span += f" to {_month(periods[-1])}"
    basis = "the invoice" if cost_type == "unblended" else "not the invoice: see Bridge"
    budget_type = _TYPE_LABELS.get(info.anomaly_cost_type, info.anomaly_cost_type)
    rows = [
        ("Billing periods", span),
        ("Cost type", f"{_TYPE_LABELS[cost_type]} ({basis})"),
        ("Rule-set version", info.rule_set_version),
        ("Data as of", f"snapshot built {info.built_at:%Y-%m-%d %H:%M} UTC; usage to "
                       f"{info.last_date}"),
        ("Budgets", BUDGET_NOTE.format(budget_type=budget_type)),
    ]  # fmt: skip
    for row in status.to_dict("records"):
        final = "NOT FINAL (no invoice id yet)"
        if row["final"]:
            final = f"final, invoice {row['invoice_ids']}"
        closed = "open"
        if row["closed"]:
            closed = f"closed {row['closed_at']:%Y-%m-%d} by {row['closed_by'] or 'unknown'}"
        rows.append((f"Period {row['billing_period']:%Y-%m}", f"{final}; {closed}"))
    for row in deliveries.to_dict("records"):
        rows.append((
            f"Delivery {row['billing_period']:%Y-%m}",
            f"{row['delivery_id']} ({row['report']}, {row['format']}, {row['row_count']:,} "
            f"lines, ingested {row['ingested_at']:%Y-%m-%d %H:%M} UTC)",
        ))  # fmt: skip
    for each, value in worst.items():
        verdict = "0.00" if value == 0 else f"OFF by up to {value}"
        rows.append((f"Reconciliation ({_TYPE_LABELS[each]})", verdict))
    return rows
