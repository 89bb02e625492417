"""``costlens export``'s work, for the CLI and the dashboard alike: build the showback from the
published snapshot, write its files atomically and log the export in the state database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from costlens.config import Settings
from costlens.queries import open_snapshot
from costlens.state import record_export
from reports.exports.build import build_showback
from reports.exports.files import ExportFormat, write_export
from reports.exports.model import Showback

__all__ = ["ExportResult", "export_payload", "log_export", "run_export"]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its showback and files."""

    showback: Showback
    files: list[Path]
    fmt: str


def _span(periods: Sequence[dt.date]) -> str:
    return f"{periods[0]:%Y-%m}..{periods[-1]:%Y-%m}"


def log_export(
    settings: Settings, showback: Showback, fmt: str, path: str, actor: str | None = None
) -> None:
    """Record the export (when, who, what, its totals) in the state database."""
    record_export(
        settings.state_database_url,
        periods=_span(showback.periods),
        format=fmt,
        cost_type=showback.cost_type,
        by=",".join(showback.by),
        path=path,
        totals={"total": str(showback.total), "detail_rows": len(showback.detail.rows)},
        reconciled=showback.reconciled,
        snapshot_built_at=showback.built_at,
        actor=actor,
    )


def run_export(
    settings: Settings,
    start: dt.date,
    end: dt.date | None,
    *,
    fmt: ExportFormat,
    out: Path,
    cost_type: str = "unblended",
    by: Sequence[str] = (),
) -> ExportResult:
    """Export ``start`` to ``end`` (default ``start``) as ``fmt`` at ``out`` and log it. A bad
    argument raises before any file is written; files land together or not at all."""
    with open_snapshot(settings.data_dir) as snap:
        showback = build_showback(snap, start, end, cost_type=cost_type, by=by)
    files = write_export(showback, fmt, out)
    log_export(settings, showback, fmt, str(files[0]))
    return ExportResult(showback, files, fmt)


def export_payload(result: ExportResult) -> dict[str, Any]:
    """The ``--json`` summary of an export."""
    sb = result.showback
    return {
        "periods": [f"{p:%Y-%m}" for p in sb.periods],
        "format": result.fmt,
        "cost_type": sb.cost_type,
        "by": list(sb.by),
        "files": [str(f) for f in result.files],
        "total": str(sb.total),
        "detail_rows": len(sb.detail.rows),
        "reconciled": sb.reconciled,
        "largest_difference": {t: str(v) for t, v in sb.differences.items()},
        "not_final": [f"{p:%Y-%m}" for p in sorted(sb.not_final)],
        "adjustments": len(sb.adjustments.rows),
        "adjustments_total": str(adjustments_total(sb)),
    }


def adjustments_total(showback: Showback) -> Decimal:
    """The sum of the export's restatement adjustments, in its cost type (0 when none)."""
    sheet = showback.adjustments
    amount = sheet.names.index("amount")
    return sum((Decimal(row[amount]) for row in sheet.rows), Decimal(0))
