"""Ingest billing exports (CUR 2.0, legacy CUR CSV/Parquet, FOCUS) from S3 or local paths.

``ingest(settings, target)`` discovers deliveries, skips those already loaded, and replaces each
changed billing period of a report atomically in ``line_items``, recording it in ``deliveries``.
"""

from __future__ import annotations

from ingest.model import DeliveryResult, IngestReport
from ingest.pipeline import ingest

__all__ = ["DeliveryResult", "IngestReport", "ingest"]
