"""Event-level evaluation of costlens.anomalies.detect against three baselines.

    python benchmarks/anomaly_eval.py            # held-out report: seeds 100-129
    python benchmarks/anomaly_eval.py --tune     # tuning seeds 0-9 (the only ones to tune on)
    python benchmarks/anomaly_eval.py --quick    # 3 held-out seeds, for a smoke run
    python benchmarks/anomaly_eval.py --by-setting   # costlens per generator setting
    python benchmarks/anomaly_eval.py --hourly       # costlens on hourly series, delay in hours

Series come from ``series_gen.py``; ``--by-setting`` runs the detector alone on every setting of
``series_gen.SETTINGS`` (each moves one of the generator's ranges: series size, noise, weekends,
growth, month-start fees, drift speed, gaps, new series) and prints one row per setting, then the
checks on all of them together (F1 >= 0.9, at most 1 false alert per 100 series-weeks, drift
recall >= 0.75). ``--hourly`` runs it on ``series_gen.generate_hourly``'s series and groups the
flags as the hourly scan does (``find_events`` with ``--max-gap`` hours, then ``join_held``: a
change still holding is one event), printing the ungrouped events' figures as its baseline.

Series come from ``series_gen.py`` (``--per-seed`` per seed). Every method runs on the same
series with the same gates (``--min-impact`` dollars, ``--min-percent``); its anomalous days are
grouped into events by ``find_events`` (gap <= 3 days).

Matching: an alert event *hits* a label when it overlaps the label's window extended by
``--tolerance`` days (the window is the spike's days, or the first 14 days of a persistent change).
A label is *reportable* when its largest daily excess is >= ``--min-impact``; only reportable
labels count for recall. Each label is hit at most once: a second event on the same label is a
false alert (an incident must be one alert). An event that only matches a non-reportable label is
ignored; any other event is a false alert. Per kind, precision = hits / (hits + false alerts in the
series of that kind); recall = hit labels / reportable labels; $ recall weights labels by their
total excess; delay = event start - label start (days); false alerts are per 100 series-weeks of
monitored days (after the 14-day quiet period).

It ends with the issue's checks (F1 >= 0.9, at most 1 false alert per 100 series-weeks, ahead of
every baseline), one PASS or FAIL line each, and exits 1 when any fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from series_gen import (
    CLASSIC,
    HOURLY_KINDS,
    KINDS,
    SETTINGS,
    LabelledSeries,
    generate_hourly,
    generate_many,
)

from costlens.anomalies import detect, find_events
from costlens.anomalies.baselines import BASELINES
from costlens.anomalies.events import AnomalyEvent
from costlens.anomalies.hourly_scan import MAX_GAP_HOURS, hourly_events

QUIET_DAYS = 14


@dataclass
class Tally:
    """Counts for one method and one kind of series."""

    labels: int = 0
    hits: int = 0
    false_alerts: int = 0
    dollars: float = 0.0
    dollars_hit: float = 0.0
    weeks: float = 0.0
    delays: list[int] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.labels += other.labels
        self.hits += other.hits
        self.false_alerts += other.false_alerts
        self.dollars += other.dollars
        self.dollars_hit += other.dollars_hit
        self.weeks += other.weeks
        self.delays.extend(other.delays)

    def row(self) -> dict[str, str]:
        alerts = self.hits + self.false_alerts
        precision = self.hits / alerts if alerts and self.labels else None  # none on benign-only
        recall = self.hits / self.labels if self.labels else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        delays = np.array(self.delays) if self.delays else None
        return {
            "labels": str(self.labels),
            "precision": fmt(precision),
            "recall": fmt(recall),
            "F1": fmt(f1 if self.labels else None),
            "$ recall": fmt(self.dollars_hit / self.dollars if self.dollars else None),
            "delay p50": "-" if delays is None else f"{np.percentile(delays, 50):.0f}",
            "delay p90": "-" if delays is None else f"{np.percentile(delays, 90):.0f}",
            "FA/100 wk": f"{100 * self.false_alerts / self.weeks:.2f}" if self.weeks else "-",
        }

    def f1(self) -> float:
        p = self.hits / (self.hits + self.false_alerts) if self.hits + self.false_alerts else 0.0
        r = self.hits / self.labels if self.labels else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0


def _methods(
    min_impact: float, min_percent: float
) -> dict[str, Callable[[pd.Series], pd.DataFrame]]:
    gates = {"min_impact": min_impact, "min_percent": min_percent}
    methods: dict[str, Callable[[pd.Series], pd.DataFrame]] = {
        "costlens": lambda s: detect(s, **gates)
    }
    for name, fn in BASELINES.items():
        methods[name] = lambda s, fn=fn: fn(s, **gates)
    return methods


def score_series(
    item: LabelledSeries,
    verdicts: pd.DataFrame,
    min_impact: float,
    tolerance: int,
    *,
    quiet: int = QUIET_DAYS,
    week: int = 7,
    max_gap: int = 3,
    events: list[AnomalyEvent] | None = None,
) -> Tally:
    """Match one method's events on one series against its labels (``quiet`` points are not
    monitored; ``week`` points make a week; the tolerance and delays are in points)."""
    tally = Tally(weeks=max(0, len(item.series) - quiet) / week)
    index = item.series.index
    position = {ts: i for i, ts in enumerate(index)}
    hit = [False] * len(item.labels)
    for label in item.labels:
        if label.daily_impact >= min_impact:
            tally.labels += 1
            tally.dollars += label.total_impact
    if events is None:
        events = find_events(item.series, verdicts, max_gap=max_gap)
    for event in events:
        first, last = position[event.start], position[event.last_seen]
        matched = [
            j
            for j, lab in enumerate(item.labels)
            if first <= lab.end + tolerance and last >= lab.start
        ]
        reportable = [j for j in matched if item.labels[j].daily_impact >= min_impact]
        if matched and not reportable:
            continue  # a real but below-threshold anomaly: neither hit nor false alert
        fresh = [j for j in reportable if not hit[j]]
        if not fresh:
            tally.false_alerts += 1
            continue
        j = fresh[0]
        hit[j] = True
        tally.hits += 1
        tally.dollars_hit += item.labels[j].total_impact
        tally.delays.append(max(0, first - item.labels[j].start))
    return tally


def _evaluate_chunk(
    args: tuple[list[int], int, float, float, int, str | None],
) -> tuple[dict[tuple[str, str], Tally], dict[str, float]]:
    seeds, per_seed, min_impact, min_percent, tolerance, setting = args
    methods = _methods(min_impact, min_percent)
    if setting is not None:  # the by-setting table: the detector alone
        methods = {"costlens": methods["costlens"]}
    profile = CLASSIC if setting is None else SETTINGS[setting]
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    seconds: dict[str, float] = defaultdict(float)
    for item in generate_many(seeds, per_seed, profile):
        for name, method in methods.items():
            started = time.perf_counter()
            verdicts = method(item.series)
            seconds[name] += time.perf_counter() - started
            tallies[(name, item.kind)].add(score_series(item, verdicts, min_impact, tolerance))
    return dict(tallies), dict(seconds)


def table(rows: list[dict[str, str]]) -> str:
    """An aligned, markdown-compatible table."""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    line = lambda r: "| " + " | ".join(r[c].ljust(widths[c]) for c in columns) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|"
    return "\n".join([line({c: c for c in columns}), rule, *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="100-129", help="seed range a-b or list a,b,c")
    parser.add_argument("--tune", action="store_true", help="use the tuning seeds 0-9")
    parser.add_argument("--quick", action="store_true", help="3 seeds only")
    parser.add_argument("--per-seed", type=int, default=40, help="series per seed")
    parser.add_argument("--min-impact", type=float, default=100.0)
    parser.add_argument("--min-percent", type=float, default=20.0)
    parser.add_argument("--tolerance", type=int, default=3, help="days after a label window")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--by-setting", action="store_true", help="one row per generator setting")
    parser.add_argument("--hourly", action="store_true", help="the hourly variant (delay in hours)")
    parser.add_argument(
        "--max-gap",
        type=int,
        default=24,
        help="hourly: most points between two flags of one event (default a day, as one incident)",
    )
    args = parser.parse_args(argv)
    spec = "0-9" if args.tune else args.seeds
    if "-" in spec:
        lo, hi = (int(v) for v in spec.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(v) for v in spec.split(",")]
    if args.quick:
        seeds = seeds[:3]
    chunks = [seeds[i :: args.jobs] for i in range(args.jobs) if seeds[i :: args.jobs]]
    if args.by_setting:
        return by_setting(chunks, args)
    if args.hourly:
        return hourly(chunks, args)
    work = [
        (c, args.per_seed, args.min_impact, args.min_percent, args.tolerance, None) for c in chunks
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_evaluate_chunk, work))
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    seconds: dict[str, float] = defaultdict(float)
    for part, secs in results:
        for key, value in part.items():
            tallies[key].add(value)
        for name, value in secs.items():
            seconds[name] += value
    methods = list(_methods(args.min_impact, args.min_percent))
    n_series = len(seeds) * args.per_seed
    print(
        f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), {n_series} series, "
        f"min_impact ${args.min_impact:.0f}, min_percent {args.min_percent:.0f} %, "
        f"tolerance {args.tolerance} d, {time.perf_counter() - started:.0f} s\n"
    )
    rows = []
    totals: dict[str, Tally] = {}
    for name in methods:
        total = Tally()
        for kind in KINDS:
            tally = tallies.get((name, kind), Tally())
            total.add(tally)
            rows.append({"method": name, "kind": kind, **tally.row()})
        totals[name] = total
        rows.append({"method": name, "kind": "ALL", **total.row()})
    print(table(rows))
    per_series = {m: 1000 * seconds[m] / n_series for m in methods}
    print(
        "\nmean time per series (ms): " + ", ".join(f"{m} {v:.1f}" for m, v in per_series.items())
    )
    ours = totals["costlens"]
    fa = 100 * ours.false_alerts / ours.weeks
    best_baseline = max(totals[m].f1() for m in methods if m != "costlens")
    checks = {
        f"F1 >= 0.90 (got {ours.f1():.3f})": ours.f1() >= 0.9,
        f"false alerts <= 1 per 100 series-weeks (got {fa:.2f})": fa <= 1.0,
        f"F1 above every baseline (best baseline {best_baseline:.3f})": ours.f1() > best_baseline,
    }
    print()
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(checks.values()) else 1


def by_setting(chunks: list[list[int]], args: argparse.Namespace) -> int:
    """The detector's scores on every generator setting; the checks on all together."""
    started = time.perf_counter()
    rows = []
    every, drifts = Tally(), Tally()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for setting in SETTINGS:
            work = [
                (c, args.per_seed, args.min_impact, args.min_percent, args.tolerance, setting)
                for c in chunks
            ]
            total, drift = Tally(), Tally()
            for part, _ in pool.map(_evaluate_chunk, work):
                for (_, kind), tally in part.items():
                    total.add(tally)
                    if kind == "drift":
                        drift.add(tally)
            every.add(total)
            drifts.add(drift)
            row = total.row()
            rows.append({"setting": setting, **row, "drift recall": drift.row()["recall"]})
    seeds = sorted(s for c in chunks for s in c)
    print(
        f"costlens by generator setting: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
        f"{len(seeds) * args.per_seed} series per setting, {time.perf_counter() - started:.0f} s\n"
    )
    print(table([*rows, {"setting": "ALL", **every.row(), "drift recall": drifts.row()["recall"]}]))
    fa = 100 * every.false_alerts / every.weeks
    drift_recall = drifts.hits / drifts.labels if drifts.labels else 0.0
    checks = {
        f"F1 >= 0.90 over every setting (got {every.f1():.3f})": every.f1() >= 0.9,
        f"false alerts <= 1 per 100 series-weeks (got {fa:.2f})": fa <= 1.0,
        f"drift recall >= 0.75 (got {drift_recall:.2f})": drift_recall >= 0.75,
    }
    print()
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(checks.values()) else 1


def _hourly_chunk(
    args: tuple[list[int], int, float, float, int, int],
) -> tuple[dict[str, Tally], Tally]:
    """Per kind, the scan's events (``find_events`` then ``join_held``, as
    ``costlens.anomalies.hourly_scan``), and over all kinds the detector's events unjoined."""
    seeds, per_seed, min_impact, min_percent, tolerance, max_gap = args
    tallies: dict[str, Tally] = defaultdict(Tally)
    unjoined = Tally()
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for _ in range(per_seed):
            item = generate_hourly(rng)
            verdicts = detect(item.series, min_impact=min_impact, min_percent=min_percent)
            quiet = int(verdicts["expected"].notna().to_numpy().argmax())
            found = find_events(item.series, verdicts, max_gap=max_gap)
            joined = hourly_events(item.series, verdicts) if max_gap == MAX_GAP_HOURS else found
            for events, into in ((joined, tallies[item.kind]), (found, unjoined)):
                into.add(score_series(item, verdicts, min_impact, tolerance, quiet=quiet,
                                      week=168, max_gap=max_gap, events=events))  # fmt: skip
    return dict(tallies), unjoined


def hourly(chunks: list[list[int]], args: argparse.Namespace) -> int:
    """The detector on hourly series (``series_gen.generate_hourly``): the gates per hour are
    the daily ones divided by 24; delays in hours; false alerts per 100 monitored series-weeks."""
    started = time.perf_counter()
    min_impact = args.min_impact / 24.0
    work = [
        (c, args.per_seed, min_impact, args.min_percent, args.tolerance, args.max_gap)
        for c in chunks
    ]
    tallies: dict[str, Tally] = defaultdict(Tally)
    unjoined = Tally()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for part, alone in pool.map(_hourly_chunk, work):
            unjoined.add(alone)
            for kind, tally in part.items():
                tallies[kind].add(tally)
    seeds = sorted(s for c in chunks for s in c)
    print(
        f"costlens on hourly series: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
        f"{len(seeds) * args.per_seed} series of 4-8 weeks, min_impact ${min_impact:.2f} an hour, "
        f"tolerance {args.tolerance} h, events split by more than {args.max_gap} h, "
        f"{time.perf_counter() - started:.0f} s "
        "(delays in hours)\n"
    )
    total = Tally()
    rows = []
    for kind in HOURLY_KINDS:
        tally = tallies.get(kind, Tally())
        total.add(tally)
        rows.append({"kind": kind, **tally.row()})
    rows.append({"kind": "ALL", **total.row()})
    print(table(rows))
    alone = unjoined.row()
    print(
        f"\nbaseline, the same verdicts without joining a held change's events (join_held): "
        f"F1 {alone['F1']}, recall {alone['recall']}, {alone['FA/100 wk']} false alerts / 100 wk"
    )
    fa = 100 * total.false_alerts / total.weeks
    delays = np.array(total.delays) if total.delays else np.zeros(1)
    checks = {
        f"false alerts <= 1 per 100 series-weeks (got {fa:.2f})": fa <= 1.0,
        f"median detection delay <= 2 hours (got {np.percentile(delays, 50):.0f})": bool(
            np.percentile(delays, 50) <= 2
        ),
    }
    print()
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
