"""What a finance export holds, independent of its file format.

``reports.exports.build`` fills a ``Showback`` from ``costlens.queries``; the writers
(``xlsx``, ``csv``, ``parquet``) turn it into files. Every money value is an exact
``decimal.Decimal`` in dollars; a writer never does arithmetic on it.

>>> sheet = Sheet("Summary", (Col("owner", "Owner", "text"), Col("total", "Total", "money")), [])
>>> sheet.headers
('Owner', 'Total')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

__all__ = ["Col", "ColumnKind", "Sheet", "Showback"]

ColumnKind = Literal["text", "money", "percent", "date", "count"]
"""How a column's values are written: ``money`` is a ``Decimal`` in dollars (currency to the
cent), ``percent`` a fraction (``Decimal`` or float, 0.25 = 25 %), ``date`` a ``datetime.date``,
``count`` an int, ``text`` a str. ``None`` is an empty cell in every kind."""


@dataclass(frozen=True)
class Col:
    """One column of a sheet: its machine ``name`` (CSV/Parquet header), its ``header`` for a
    person (the workbook) and its ``kind``."""

    name: str
    header: str
    kind: ColumnKind


@dataclass(frozen=True)
class Sheet:
    """One sheet of the workbook: ``rows`` are tuples in the order of ``columns``.

    ``period_column`` names the column holding each row's billing period (a ``date``), used to
    flag the rows of months that are not final; None when the sheet has none. ``total_row``:
    the last row is a total (written bold)."""

    name: str
    columns: tuple[Col, ...]
    rows: list[tuple[Any, ...]]
    period_column: str | None = "billing_period"
    total_row: bool = False
    note: str = ""
    """One line above the table (what the sheet shows, its cost type)."""

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Showback:
    """A month-end showback/chargeback for ``periods`` in one cost type.

    Sheets, in workbook order: ``summary`` (per owner: direct, shared, total, budget, variance,
    month-over-month change), ``detail`` (owner x microservice x service x account and the
    ``by`` dimensions; what CSV and Parquet carry), ``shared`` (each split: source cost, method,
    each owner's share), ``unallocated`` (by account and service with top resources),
    ``reconciliation`` (per payer account and invoice: line items = direct + shared +
    unallocated (+ adjustments of closed months), difference 0.00; and against the ledger's
    delivered totals), ``bridge`` (unblended -> amortized by line item type; None for an
    unblended export), ``adjustments`` (restatements of closed months) and ``assumptions``
    (label, value pairs).
    """

    periods: tuple[date, ...]
    cost_type: str
    by: tuple[str, ...]
    summary: Sheet
    detail: Sheet
    shared: Sheet
    unallocated: Sheet
    reconciliation: Sheet
    adjustments: Sheet
    bridge: Sheet | None = None
    assumptions: list[tuple[str, str]] = field(default_factory=list)
    not_final: frozenset[date] = frozenset()
    """Billing periods without an invoice id: flagged in red on every sheet."""
    differences: dict[str, Decimal] = field(default_factory=dict)
    """Per cost type, the largest absolute difference of the reconciliation (0 when it ties)."""
    total: Decimal = Decimal(0)
    """The export's total in ``cost_type`` (= the Detail rows' sum)."""
    built_at: datetime | None = None
    """When the snapshot it was read from was built."""

    @property
    def reconciled(self) -> bool:
        """Every difference of the reconciliation, in every cost type, is exactly 0.00."""
        return all(v == 0 for v in self.differences.values())

    def sheets(self) -> list[Sheet]:
        """The table sheets in workbook order (``assumptions`` is written after them)."""
        out = [self.summary, self.detail, self.shared, self.unallocated, self.reconciliation]
        if self.bridge is not None:
            out.append(self.bridge)
        out.append(self.adjustments)
        return out
