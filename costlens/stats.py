"""Small numeric helpers shared by the anomaly detector and the month-end forecast."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["median"]


def median(values: npt.NDArray[np.float64]) -> float:
    """``np.median`` of a short 1-d array without its overhead (the same value); NaN for none.

    >>> median(np.array([3.0, 1.0, 2.0, 10.0])), median(np.array([]))
    (2.5, nan)
    """
    n = values.size
    if n == 0:
        return math.nan
    ordered = np.sort(values)
    half = n // 2
    return float(ordered[half]) if n % 2 else float(ordered[half - 1] + ordered[half]) / 2.0
