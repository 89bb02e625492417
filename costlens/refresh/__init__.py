"""The write side of the serving snapshot: ``allocations`` -> the next ``serving.duckdb``.

``build.refresh`` runs it: the inputs, the reuse check (``reuse``: nothing changed, keep the
published file; ``fingerprints``: which billing periods changed), the steps that write the
tables (``rollups``, the anomaly scan, ``forecasts``, coverage) into the snapshot attached as
``context.SNAPSHOT``, and the atomic publish (``costlens.serving``). ``report`` is what it did.
"""

from __future__ import annotations

from costlens.refresh.build import PREVIOUS, SNAPSHOT, refresh, rule_set_version
from costlens.refresh.report import RefreshReport

__all__ = ["PREVIOUS", "SNAPSHOT", "RefreshReport", "refresh", "rule_set_version"]
