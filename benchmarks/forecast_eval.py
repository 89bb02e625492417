"""Backtest of costlens.forecast.forecast_month_end on generated daily cost series.

    python benchmarks/forecast_eval.py            # held-out seeds 100-129
    python benchmarks/forecast_eval.py --tune     # tuning seeds 0-9
    python benchmarks/forecast_eval.py --quick

For every series of ``series_gen.py`` and every complete month with at least 28 days of history
before it, the month total is projected at the end of day 7, 14 and 21 from the data up to that
day only. Reported per cut-off: MAPE and p90 absolute percentage error of the projected month
total, and the share of actual totals inside the 90 % interval; next to the run-rate baseline
(month to date / days elapsed x days in month). ``benign`` series have no injected anomaly;
``all`` includes series whose level shifts, drifts, ramps or drops inside the month.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomaly_eval import table
from series_gen import generate_many

from costlens.forecast import forecast_month_end

CUTOFFS = (7, 14, 21)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="100-129", help="seed range a-b")
    parser.add_argument("--tune", action="store_true", help="use the tuning seeds 0-9")
    parser.add_argument("--quick", action="store_true", help="3 seeds only")
    parser.add_argument("--per-seed", type=int, default=20)
    args = parser.parse_args(argv)
    lo, hi = (int(v) for v in ("0-9" if args.tune else args.seeds).split("-"))
    seeds = list(range(lo, hi + 1))[: 3 if args.quick else None]
    errors: dict[tuple[str, int], list[float]] = {}
    naive: dict[tuple[str, int], list[float]] = {}
    inside: dict[tuple[str, int], list[bool]] = {}
    for item in generate_many(seeds, args.per_seed):
        s = item.series
        group = "benign" if item.kind == "none" else "anomalous"
        for month_start in s.index[s.index.day == 1]:
            days = month_start.days_in_month
            last_day = month_start + pd.Timedelta(days=days - 1)
            if (month_start - s.index[0]).days < 28 or s.index[-1] < last_day:
                continue
            total = float(s[month_start:last_day].sum())
            if total <= 0:
                continue
            for cut in CUTOFFS:
                upto = s[: month_start + pd.Timedelta(days=cut - 1)]
                f = forecast_month_end(upto)
                rate = float(upto[month_start:].sum()) / cut * days
                for key in ((group, cut), ("all", cut)):
                    errors.setdefault(key, []).append(abs(f.projected - total) / total)
                    naive.setdefault(key, []).append(abs(rate - total) / total)
                    inside.setdefault(key, []).append(f.lower <= total <= f.upper)
    rows = []
    for group in ("benign", "anomalous", "all"):
        for cut in CUTOFFS:
            e, n, c = (np.array(d[(group, cut)]) for d in (errors, naive, inside))
            rows.append(
                {
                    "series": group,
                    "cut-off day": str(cut),
                    "months": str(len(e)),
                    "MAPE %": f"{100 * e.mean():.1f}",
                    "p90 APE %": f"{100 * np.percentile(e, 90):.1f}",
                    "90 % interval coverage": f"{100 * c.mean():.0f} %",
                    "run-rate MAPE %": f"{100 * n.mean():.1f}",
                }
            )
    print(f"seeds {seeds[0]}..{seeds[-1]}, {len(seeds) * args.per_seed} series\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
