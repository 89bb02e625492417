"""The KPI registry: every KPI a scorecard shows, in the order it shows them.

>>> KPI_NAMES[:3]
('compute_on_demand_share', 'spot_coverage', 'previous_generation_share')
>>> kpi("graviton_share").title
'EC2 Graviton share'
"""

from __future__ import annotations

from types import MappingProxyType

from costlens.errors import ConfigError
from costlens.scorecards.kpis import (
    amd_share,
    budget_adherence,
    commitment_coverage,
    commitment_utilization,
    compute_on_demand_share,
    cost_growth,
    ebs_gp3_share,
    ebs_snapshots_over_1yr,
    elasticache_graviton_share,
    graviton_share,
    lambda_graviton_share,
    open_anomalies,
    opensearch_graviton_share,
    previous_generation_share,
    rds_graviton_share,
    rds_open_source_share,
    s3_standard_share,
    spot_coverage,
    tagged_share,
    unit_cost,
)
from costlens.scorecards.model import Kpi

__all__ = ["EFFICIENCY", "KPIS", "KPI_NAMES", "SQL_KPIS", "kpi"]

KPIS: tuple[Kpi, ...] = tuple(
    module.KPI
    for module in (
        compute_on_demand_share,
        spot_coverage,
        previous_generation_share,
        graviton_share,
        amd_share,
        ebs_gp3_share,
        ebs_snapshots_over_1yr,
        s3_standard_share,
        rds_open_source_share,
        rds_graviton_share,
        elasticache_graviton_share,
        opensearch_graviton_share,
        lambda_graviton_share,
        commitment_coverage,
        commitment_utilization,
        tagged_share,
        cost_growth,
        budget_adherence,
        open_anomalies,
        unit_cost,
    )
)
KPI_NAMES: tuple[str, ...] = tuple(k.name for k in KPIS)
_BY_NAME = MappingProxyType({k.name: k for k in KPIS})
EFFICIENCY: tuple[Kpi, ...] = tuple(k for k in KPIS if k.group == "efficiency")
"""The KPIs with savings, which make the overall grade."""
SQL_KPIS: tuple[Kpi, ...] = tuple(k for k in KPIS if k.eligible)
"""The KPIs computed as sums over ``kpi_facts``."""


def kpi(name: str) -> Kpi:
    """The KPI called ``name``; a ``ConfigError`` listing the valid names otherwise."""
    found = _BY_NAME.get(name)
    if found is None:
        raise ConfigError(
            f"unknown KPI {name!r}", fix=f"use one of: {', '.join(KPI_NAMES)}", where="kpi_goals"
        )
    return found
