"""What a refresh reads besides the warehouse, loaded once at its edge: ``RefreshInputs``.

The cost type and detector options of the anomaly scan, forecasts and budgets, the anomaly marks
of the state database, ``owners.yaml`` (budgets and goals), the scorecards' inputs (goals,
budgets and the business-metrics CSV) and the shared-cost splits of ``rules.yaml``. No step
re-parses a file or opens the state database: each reads these from its ``BuildContext``. A bad
file is refused here, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costlens.attribution.owners import OwnersRegistry, load_owners
from costlens.attribution.rules import load_rules
from costlens.attribution.splits import SplitRule
from costlens.config import Settings
from costlens.errors import CostlensError
from costlens.scorecards.compute import ScorecardInputs
from costlens.scorecards.metrics import load_metrics

__all__ = ["RefreshInputs", "load_inputs", "scorecard_inputs"]


@dataclass(frozen=True)
class RefreshInputs:
    """The inputs of one refresh (see the module)."""

    cost_type: str
    """The cost type of the anomaly scan, forecasts and budgets."""
    detector_options: dict[str, Any] | None
    marks: dict[str, str]
    """Anomaly marks of the state database (anomaly id -> verdict)."""
    owners: OwnersRegistry | None
    """``owners.yaml``, None without one."""
    scorecards: ScorecardInputs
    splits: tuple[SplitRule, ...] = ()
    """The shared-cost splits of ``rules.yaml`` (their methods, for the finance export); empty
    when the rules cannot be read (attribution, which needs them, says why)."""
    hourly: bool = False
    """``[anomalies] grain = "hour"``: the scan reads the hourly allocations too."""


def scorecard_inputs(owners: OwnersRegistry | None, settings: Settings) -> ScorecardInputs:
    """The scorecards' goals and budgets (``owners.yaml``) and business metrics."""
    path = settings.business_metrics
    metrics = None if path is None else load_metrics(path)
    if owners is None:
        return ScorecardInputs(metrics=metrics)
    return ScorecardInputs(
        goals={o.id: o.kpi_goals for o in owners.owners.values() if o.kpi_goals},
        budgets={
            o.id: o.monthly_budget for o in owners.owners.values() if o.monthly_budget is not None
        },
        metrics=metrics,
    )


def load_inputs(
    settings: Settings,
    cost_type: str,
    detector_options: dict[str, Any] | None,
    marks: dict[str, str],
) -> RefreshInputs:
    """Parse ``owners.yaml`` and the business metrics once; ``marks`` come from the reuse check
    (which may have read them already)."""
    owners = load_owners(settings.owners) if settings.owners.is_file() else None
    return RefreshInputs(
        cost_type, detector_options, marks, owners, scorecard_inputs(owners, settings),
        _splits(settings, owners), settings.anomalies.grain == "hour",
    )  # fmt: skip


def _splits(settings: Settings, owners: OwnersRegistry | None) -> tuple[SplitRule, ...]:
    """The splits of ``rules.yaml``; none when it is missing or does not load."""
    if owners is None or not settings.rules.is_file():
        return ()
    try:
        return load_rules(settings.rules, owners).splits
    except CostlensError:
        return ()
