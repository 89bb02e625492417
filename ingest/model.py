"""What ingest works with: export files, deliveries of a billing period, and the results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

__all__ = ["Delivery", "DeliveryResult", "ExportFile", "IngestReport", "Status"]

Status = Literal["new", "unchanged", "replaced", "updating"]


@dataclass(frozen=True)
class ExportFile:
    """One data file of a delivery: where it is in the source and, once fetched, on disk."""

    key: str
    size: int
    etag: str | None = None
    path: Path | None = None
    sha256: str | None = None

    def ledger_entry(self) -> dict[str, Any]:
        """The ``{key, etag, size, sha256}`` record kept in ``deliveries.files``."""
        return {"key": self.key, "etag": self.etag, "size": self.size, "sha256": self.sha256}


@dataclass
class Delivery:
    """Files that together make one report's billing period, as AWS delivered them.

    ``billing_period`` is ``None`` until it is read from the data (local files without a
    manifest); ``format`` is ``auto`` until detected from the columns.
    """

    source: str
    report: str
    files: list[ExportFile]
    billing_period: date | None = None
    assembly_id: str | None = None
    format: str = "auto"
    manifest: str | None = None
    period_from_data: bool = False
    problem: Exception | None = None
    """An error found while reading the manifest, raised when this delivery's turn comes."""


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one delivery in an ingest run."""

    source: str
    report: str
    billing_period: date
    format: str
    delivery_id: str
    rows: int
    totals: dict[str, Decimal]
    status: Status

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (dates and decimals as strings)."""
        return {
            "source": self.source,
            "report": self.report,
            "billing_period": self.billing_period.isoformat(),
            "format": self.format,
            "delivery_id": self.delivery_id,
            "rows": self.rows,
            "totals": {k: str(v) for k, v in self.totals.items()},
            "status": self.status,
        }


@dataclass
class IngestReport:
    """Per-delivery results of one ``ingest`` call, in the order they were processed."""

    deliveries: list[DeliveryResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when any delivery was loaded (new or replaced)."""
        return any(d.status in ("new", "replaced") for d in self.deliveries)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``--json``."""
        return {"deliveries": [d.as_dict() for d in self.deliveries], "changed": self.changed}
