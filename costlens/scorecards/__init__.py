"""Per-owner efficiency scorecards: AWS CID's KPI dashboard by owner, microservice and account.

One module per KPI (``kpis/``) in a registry (``registry``), each declaring its unit, direction,
default goal, eligible spend, the savings formula with its assumption in words, and what the
resources behind it are called; ``facts`` is the one pre-aggregate they all read, ``sums`` the
SQL over it, ``compute`` the grades, savings without double counting and the actions, and
``metrics`` the optional business-metrics CSV of the unit cost. docs/scorecards.md has the
definitions and where costlens differs from CID.

>>> from costlens.scorecards import KPI_NAMES
>>> "spot_coverage" in KPI_NAMES and "graviton_share" in KPI_NAMES
True
"""

from __future__ import annotations

from costlens.scorecards.model import GRADES, Kpi, grade
from costlens.scorecards.registry import EFFICIENCY, KPI_NAMES, KPIS, kpi

__all__ = ["EFFICIENCY", "GRADES", "KPIS", "KPI_NAMES", "Kpi", "grade", "kpi"]
