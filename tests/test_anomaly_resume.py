"""A detector resumed from a saved state gives exactly the verdicts of a run from the start.

The scan re-uses the state saved at the start of the last month when only that month's costs
were re-delivered; the detector's figures must not depend on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from costlens.anomalies.detect import detect, detect_from
from costlens.anomalies.detector_state import DetectorState

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import series_gen  # benchmarks/series_gen.py: the evaluation's labelled series


def _restated(series: pd.Series, cut: int, rng: np.random.Generator) -> pd.Series:
    """The same series with every point from ``cut`` on restated (and a spike added)."""
    tail = series.to_numpy(dtype=np.float64).copy()
    tail[cut:] *= rng.uniform(0.9, 1.1, size=len(tail) - cut)
    if len(tail) > cut + 3:
        tail[cut + 3] += 5 * abs(tail[cut]) + 500.0
    return pd.Series(tail, index=series.index)


def test_resumed_runs_equal_full_runs_on_generated_series() -> None:
    rng = np.random.default_rng(5)
    labelled = series_gen.generate_many([0, 1], 12)
    compared = 0
    for item in labelled:
        s = item.series
        starts = np.flatnonzero(np.asarray(s.index.day) == 1)
        for cut in starts[starts >= 14][-3:]:
            _, state = detect_from(s, save_at=int(cut))
            assert state is not None and state.t == cut
            restored = DetectorState.from_json(state.to_json())
            changed = _restated(s, int(cut), rng)
            resumed, _ = detect_from(changed, restored)
            pd.testing.assert_frame_equal(resumed, detect(changed), check_exact=True)
            compared += 1
    assert compared >= 40


def test_a_state_saved_inside_a_chain_of_adaptations_resumes_it() -> None:
    """The anchor a drift is measured from is part of the state."""
    idx = pd.date_range("2024-01-01", periods=130, freq="D")
    storage = np.clip(np.arange(130) - 89, 0, None) * 13.0
    s = pd.Series(15.0 + storage, index=idx)
    for cut in (100, 104, 110):
        _, state = detect_from(s, save_at=cut)
        assert state is not None
        resumed, _ = detect_from(s, DetectorState.from_json(state.to_json()))
        pd.testing.assert_frame_equal(resumed, detect(s), check_exact=True)
    assert detect(s)["is_anomaly"].any()


def test_a_state_of_another_prefix_or_options_is_not_used() -> None:
    idx = pd.date_range("2024-01-01", periods=60, freq="D")
    s = pd.Series(np.linspace(100.0, 160.0, 60), index=idx)
    _, state = detect_from(s, save_at=31)
    assert state is not None
    other = s.copy()
    other.iloc[20] = 900.0  # the prefix differs: the state must be ignored
    resumed, _ = detect_from(other, state)
    pd.testing.assert_frame_equal(resumed, detect(other), check_exact=True)
    assert bool(resumed["is_anomaly"].iloc[20])  # seen, so the run started from the beginning
    strict, _ = detect_from(s, state, threshold=2.0)  # other options: started from scratch
    pd.testing.assert_frame_equal(strict, detect(s, threshold=2.0), check_exact=True)
    assert detect_from(s, save_at=500)[1] is None  # past the end: nothing saved


def test_an_hourly_state_keeps_its_weekly_season() -> None:
    idx = pd.date_range("2024-01-01 07:00", periods=24 * 7 * 4, freq="h")
    days, hours = np.asarray(idx.day_of_week), np.asarray(idx.hour)
    values = 100.0 * np.where(days >= 5, 0.4, 1.0) * (1 + 0.5 * (hours >= 9))
    s = pd.Series(values * (1 + 0.03 * np.random.default_rng(8).standard_normal(len(idx))), idx)
    s.iloc[600] += 500.0
    for cut in (17 + 24 * 16, 17 + 24 * 16 + 5, 590):
        _, state = detect_from(s, save_at=cut)
        assert state is not None
        resumed, _ = detect_from(s, DetectorState.from_json(state.to_json()))
        pd.testing.assert_frame_equal(resumed, detect(s), check_exact=True)
    assert np.flatnonzero(detect(s)["is_anomaly"].to_numpy()).tolist() == [600]
