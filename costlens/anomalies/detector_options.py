"""The detector's options: :class:`DetectorOptions`, every keyword that ``detect`` and
``detect_from`` take (``costlens.anomalies.detect``), each field documented and checked, and the
parsing of those keywords into it, which names the valid options when one is unknown."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from costlens.errors import CostlensError

__all__ = ["DetectorOptions", "parse_options"]


@dataclass(frozen=True)
class DetectorOptions:
    """Options of :func:`detect`; every field can be passed to it as a keyword."""

    min_impact: float = 100.0
    """Minimum absolute impact ``|actual - expected|`` of a point, in the series' unit (dollars)."""
    min_percent: float = 20.0
    """Minimum impact as a percentage of the expected value."""
    threshold: float = 5.0
    """Robust z-score (deviation / noise scale) a point must exceed; ``score`` is 0.5 there."""
    min_history: int | None = None
    """Points observed before the first verdict (the quiet period); None: 14, or two cycles of the
    longest season when that is longer (two whole weeks for hourly data, 576 points for 5-minute
    data)."""
    period: int | None = None
    """Seasonality period in points; None infers it: 7 for daily data, 24 for hourly data (with
    a weekly season too), a day's points for shorter steps (288 for 5 minutes), else 1 = none."""
    adapt_after: int | None = None
    """Consecutive same-direction outliers after which the new level is accepted as normal; None:
    5, or an hour's points when that is more (12 for 5-minute data)."""
    min_drop_days: int = 2
    """Consecutive low points before a decrease is reported (a one-off credit is benign)."""
    drift_threshold: float = 0.3
    """Minimum log-acceleration of the level to report a drift: between medians of a cycle two
    cycles apart and of two cycles four apart; 0.7 of it between medians eight cycles apart."""
    month_start: bool = True
    """Learn the day-1-of-month effect (daily series only)."""

    def __post_init__(self) -> None:
        for name in ("min_history", "adapt_after", "min_drop_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CostlensError(f"option {name} must be >= 1", fix=f"pass {name}=1 or more")
        if self.period is not None and self.period < 1:
            raise CostlensError("option period must be >= 1", fix="pass period=None to infer it")
        if self.threshold <= 0 or self.min_impact < 0 or self.min_percent < 0:
            raise CostlensError(
                "options threshold must be > 0, min_impact and min_percent >= 0",
                fix="use non-negative thresholds",
            )


def parse_options(options: dict[str, Any]) -> DetectorOptions:
    """The keyword options of a ``detect`` call as :class:`DetectorOptions`; an unknown name
    raises, listing the valid ones."""
    valid = {f.name for f in fields(DetectorOptions)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise CostlensError(
            f"unknown detector option(s) {', '.join(unknown)}",
            fix=f"use one of {', '.join(sorted(valid))}",
        )
    return DetectorOptions(**options)
