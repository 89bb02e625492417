"""How fresh the snapshot is, for the line every dashboard page shows above its figures: the
last delivery loaded, when the snapshot was built, and which billing months are not final yet
(no invoice id: AWS still changes them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from costlens.serving.snapshot import Snapshot
from costlens.sql import has_table

__all__ = ["Freshness", "freshness"]

_LAST_DELIVERY_SQL = """
SELECT ingested_at, billing_period FROM finance_deliveries
ORDER BY ingested_at DESC, billing_period DESC LIMIT 1
"""
_NOT_FINAL_SQL = """
SELECT billing_period FROM finance_ledger
GROUP BY billing_period HAVING NOT bool_and(invoice_id <> '') ORDER BY billing_period
"""


@dataclass(frozen=True)
class Freshness:
    """What the snapshot is built from, and how final it is."""

    built_at: dt.datetime
    """When the snapshot was built (UTC)."""
    last_date: dt.date | None
    """The last usage date in it."""
    last_delivery_at: dt.datetime | None
    """When the newest current delivery was loaded (UTC); None for a snapshot without the
    finance tables (built before them: ``costlens refresh`` rebuilds it)."""
    last_delivery_period: dt.date | None
    """The billing month of that delivery."""
    not_final: tuple[dt.date, ...]
    """Billing months whose line items do not all carry an invoice id yet."""


def freshness(snap: Snapshot) -> Freshness:
    """The snapshot's ``Freshness`` (two small reads of the finance tables)."""
    at = period = None
    not_final: tuple[dt.date, ...] = ()
    if has_table(snap.con, "finance_deliveries"):
        row = snap.con.execute(_LAST_DELIVERY_SQL).fetchone()
        if row is not None:
            at, period = row
    if has_table(snap.con, "finance_ledger"):
        not_final = tuple(p for (p,) in snap.con.execute(_NOT_FINAL_SQL).fetchall())
    return Freshness(snap.info.built_at, snap.info.last_date, at, period, not_final)
