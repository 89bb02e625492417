"""The evaluation's generator (benchmarks/series_gen.py): its settings move one range each and
its hourly variant labels what the detector can see."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import series_gen  # benchmarks/series_gen.py


def test_gaps_are_one_day_zeros_outside_the_labels_and_change_nothing_else() -> None:
    profile = series_gen.SETTINGS["gaps (1-day zeros)"]
    classic = [series_gen.generate(np.random.default_rng(s)) for s in range(30)]
    gappy = [series_gen.generate(np.random.default_rng(s), profile=profile) for s in range(30)]
    gaps = 0
    for plain, item in zip(classic, gappy, strict=True):
        assert item.kind == plain.kind and item.labels == plain.labels
        changed = np.flatnonzero(item.series.to_numpy() != plain.series.to_numpy())
        assert (item.series.to_numpy()[changed] == 0.0).all()
        for lab in item.labels:
            assert not ((changed >= lab.start - 3) & (changed <= lab.end + 3)).any()
        gaps += len(changed)
    assert gaps >= 30  # 1-4 a series (fewer where a day was $0 already)


def test_hourly_series_start_their_changes_after_two_weeks_and_label_their_excess() -> None:
    rng = np.random.default_rng(7)
    kinds = set()
    for _ in range(40):
        item = series_gen.generate_hourly(rng)
        kinds.add(item.kind)
        index = item.series.index
        assert index.freq == pd.tseries.frequencies.to_offset("h")
        assert len(index) % 24 == 0 and 28 * 24 <= len(index) <= 56 * 24
        for lab in item.labels:
            assert lab.start >= 24 * 15 and lab.end < len(index)
            assert lab.daily_impact > 0 and lab.total_impact >= lab.daily_impact
        assert (item.kind == "none") == (not item.labels)
    assert kinds == set(series_gen.HOURLY_KINDS)
