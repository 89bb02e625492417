"""The detector's resumable state: :class:`DetectorState`, what enters point ``t`` of a series
(the cleaned history, the seasonal factors, the run and chain in progress) as exact JSON, and the
key that ties it to the options and to the series' first ``t`` points, so that ``detect_from``
(``costlens.anomalies.detect``) resumes only where the earlier days and the options are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from costlens.anomalies.detector_options import DetectorOptions

__all__ = ["STATE_ARRAYS", "DetectorState", "prefix_key"]

_FloatArray = npt.NDArray[np.float64]
_STATE_VERSION = 3  # saved states of another version are not resumed
STATE_ARRAYS = ("clean", "seasonal", "fee", "expected", "sigma", "score", "flag")
"""The per-point arrays a state holds up to ``t``."""


@dataclass(frozen=True)
class DetectorState:
    """The detector's state entering point ``t`` of a series (see :func:`detect_from`)."""

    t: int
    key: str
    """Hash of the options and of the series' first ``t`` points and dates."""
    arrays: dict[str, list[float]]
    """``clean``, ``seasonal``, ``fee``, ``expected``, ``sigma``, ``score``, ``flag`` up to
    ``t``; ``factors`` and ``week`` (hourly data's weekday factors, then their cycles);
    ``chain``: the run's level and whether it was reported, the anchor, its noise, the last point
    its chain lasts to, the point a reported rise opened it at and that rise's last excess."""
    scalars: tuple[int, int, int, int, int]
    """cycles, regime, drift_from, run, run_dir."""

    def to_json(self) -> str:
        """A JSON text (floats round-trip exactly)."""
        return json.dumps([self.t, self.key, self.arrays, list(self.scalars)])

    @classmethod
    def from_json(cls, text: str) -> DetectorState:
        """The state ``to_json`` wrote."""
        t, key, arrays, scalars = json.loads(text)
        return cls(int(t), str(key), dict(arrays), tuple(int(v) for v in scalars))  # type: ignore[arg-type]


def prefix_key(index: pd.DatetimeIndex, x: _FloatArray, opts: DetectorOptions, t: int) -> str:
    """The key of a state entering point ``t``: the options and the series' first ``t`` values
    and dates (``DetectorState.key``; a resume needs an equal key)."""
    digest = hashlib.sha256(repr([_STATE_VERSION, *sorted(vars(opts).items())]).encode())
    digest.update(np.asarray(index[:t].as_unit("ns").asi8).tobytes())
    digest.update(x[:t].tobytes())
    return f"{t}:{digest.hexdigest()[:32]}"
