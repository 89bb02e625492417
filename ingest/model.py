"""What ingest works with: export files, deliveries of a billing period, and the results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from costlens.tags import TagKeyCollision
from ingest.formats.readers import FileKind

__all__ = [
    "Delivery",
    "DeliveryResult",
    "ExportFile",
    "IngestReport",
    "PreparedFile",
    "Status",
    "Untouched",
]

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
    tag_key_collisions: tuple[TagKeyCollision, ...] = ()
    """Distinct tag keys of a loaded delivery that normalize alike, kept apart."""

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


@dataclass(frozen=True)
class Untouched:
    """A delivery a failed run did not load: the one refused (with its error) or one after it.
    Its billing period keeps the data it had before the run."""

    source: str
    report: str
    billing_period: date | None
    """None while it was to be read from the data (local files without a manifest)."""
    error: str | None = None
    """The refusal, on the delivery that failed; None on those not reached."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        period = self.billing_period.isoformat() if self.billing_period else None
        out = {"source": self.source, "report": self.report, "billing_period": period}
        return out | ({"error": self.error} if self.error is not None else {})


@dataclass
class IngestReport:
    """Per-delivery results of one ``ingest`` call, in the order they were processed. A run that
    failed lists the delivery it refused and those it did not reach: their periods are kept."""

    deliveries: list[DeliveryResult] = field(default_factory=list)
    refused: list[Untouched] = field(default_factory=list)
    not_reached: list[Untouched] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when any delivery was loaded (new or replaced)."""
        return any(d.status in ("new", "replaced") for d in self.deliveries)

    @property
    def tag_key_collisions(self) -> list[TagKeyCollision]:
        """The tag-key collisions of the deliveries loaded, each once, with its periods."""
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], list[date]] = {}
        for d in self.deliveries:
            for c in d.tag_key_collisions:
                periods = seen.setdefault((c.normalized_key, c.keys), [])
                if d.billing_period not in periods:
                    periods.append(d.billing_period)
        return [TagKeyCollision(n, k, tuple(sorted(p))) for (n, k), p in seen.items()]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``--json``."""
        return {
            "deliveries": [d.as_dict() for d in self.deliveries],
            "changed": self.changed,
            "tag_key_collisions": [c.as_dict() for c in self.tag_key_collisions],
            "refused": [u.as_dict() for u in self.refused],
            "not_reached": [u.as_dict() for u in self.not_reached],
        }


@dataclass(frozen=True)
class PreparedFile:
    """A local, readable data file of a delivery with its columns."""

    origin: ExportFile
    path: Path
    kind: FileKind
    columns: dict[str, str]
    format: str
    where: str
    """How errors name the file: its key, with the member's name for a zip of several files."""
