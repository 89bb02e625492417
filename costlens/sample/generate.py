"""``generate_sample``: one canonical set of line items, projected into the chosen format."""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from costlens.errors import SampleError
from costlens.progress import NullProgress, Progress, Task
from costlens.sample import company as co
from costlens.sample.labels import (
    choose_targets,
    load_anomalies,
    make_label,
    place_anomalies,
)
from costlens.sample.lines import PeriodPlan, _add_months, commitments_for, prepare_period
from costlens.sample.manifests import Delivery
from costlens.sample.meters import build_meters, load_meters
from costlens.schema import EXPORT_FORMATS

__all__ = [
    "DEFAULT_EXPORT_NAMES",
    "FORMATS",
    "ROWS_PER_FILE",
    "SampleResult",
    "generate_sample",
    "last_complete_month",
    "sample_periods",
    "validate_sample_arguments",
]

ROWS_PER_FILE = 1_000_000
"""Line items per data file, roughly (AWS splits large periods into several files too)."""

_DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {"memory_limit": "1500MB"}
"""Insertion order stays preserved (the default): the files' bytes are the same for a seed."""

Writer = Callable[[duckdb.DuckDBPyConnection, Path, Delivery, Task], tuple[list[Path], int]]


def _writer(format: str) -> Writer:
    if format == "cur2":
        from costlens.sample.cur2 import write_cur2_period

        return write_cur2_period
    if format == "focus":
        from costlens.sample.focus import write_focus_period

        return write_focus_period
    from costlens.sample import cur1

    return cur1.write_cur1_csv_period if format == "cur1-csv" else cur1.write_cur1_parquet_period


FORMATS: tuple[str, ...] = EXPORT_FORMATS
DEFAULT_EXPORT_NAMES = {
    "cur2": "costlens-cur2",
    "cur1-csv": "costlens-cur1",
    "cur1-parquet": "costlens-cur1-parquet",
    "focus": "costlens-focus",
}


@dataclass(frozen=True)
class SampleResult:
    """What ``generate_sample`` wrote."""

    files: list[Path]
    """Every file written, data files and manifests, in order (labels.json excluded)."""
    line_items: int
    """Line items written, restatement included."""
    periods: list[date]
    labels_path: Path
    seconds: float
    export: str = ""
    format: str = ""
    deliveries: list[str] = field(default_factory=list)
    """Execution or assembly ids, in delivery order."""


def last_complete_month(today: date) -> date:
    """The first day of the month before ``today``'s.

    >>> last_complete_month(date(2024, 3, 15))
    datetime.date(2024, 2, 1)
    """
    return _add_months(today.replace(day=1), -1)


def sample_periods(end_month: date, months: int) -> list[date]:
    """The ``months`` billing periods of a sample ending with ``end_month``'s, oldest first.

    >>> [f"{p:%Y-%m}" for p in sample_periods(date(2026, 2, 14), 3)]
    ['2025-12', '2026-01', '2026-02']
    """
    end = end_month.replace(day=1)
    return [_add_months(end, i - months + 1) for i in range(months)]


def generate_sample(
    out: Path,
    *,
    format: str,
    end_month: date,
    months: int = 3,
    seed: int = 1,
    scale: float = 1.0,
    restate: bool = False,
    overwrite: bool = False,
    export: str | None = None,
    progress: Progress = NullProgress(),  # noqa: B008 - stateless default
) -> SampleResult:
    """Write ``months`` months of the sample company's bill, ending with the month of
    ``end_month``, into ``out`` in ``format`` (cur2, cur1-csv, cur1-parquet or focus), plus
    ``out/labels.json``. The months are always given: the same arguments write the same bytes
    on any day (the CLI defaults ``--end-month`` to ``last_complete_month`` of today).

    ``scale`` 1 is about 150k line items a month; ``restate`` adds a second, later delivery of
    the last month; ``overwrite`` selects the legacy CUR OVERWRITE layout.
    """
    started = time.perf_counter()
    validate_sample_arguments(format, months, scale, seed)
    periods = sample_periods(end_month, months)
    end = periods[-1]
    history_start = datetime.combine(periods[0], datetime.min.time())
    history_end = datetime.combine(_add_months(end, 1), datetime.min.time())
    last_month = datetime.combine(end, datetime.min.time())
    targets = choose_targets(seed)
    forced = frozenset(targets.values()) | {co.NEW_MICROSERVICE, co.RETIRED_MICROSERVICE}
    meters = build_meters(seed, scale, history_start, history_end, forced)
    anomalies = place_anomalies(meters, targets, history_start, history_end, last_month, scale)
    commitments = commitments_for(meters, history_start, months)
    name = export or DEFAULT_EXPORT_NAMES[format]
    writer = _writer(format)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    deliveries: list[str] = []
    rows = 0
    impacts = {a.kind: Decimal(0) for a in anomalies}
    with tempfile.TemporaryDirectory(prefix="costlens-sample-") as tmp:
        con = duckdb.connect(config=_DUCKDB_CONFIG | {"temp_directory": tmp})
        try:
            con.execute("SET enable_progress_bar = false")
            load_meters(con, meters)
            load_anomalies(con, anomalies)
            for period in periods:
                hours = (_add_months(period, 1) - period).days * 24
                estimate = len(meters) * hours * 1.2
                n_files = max(1, math.ceil(estimate / ROWS_PER_FILE))
                numbers = (1, 2) if restate and period == end else (1,)
                for number in numbers:
                    plan = PeriodPlan(
                        seed=seed,
                        period_start=period,
                        history_start=history_start,
                        files=n_files,
                        restated=number == 2,
                        refund_period=periods[-2] if months > 1 else periods[-1],
                        final=period < end,
                    )
                    measured = prepare_period(con, plan, commitments)
                    delivery = Delivery(name, period, seed, number, n_files, overwrite)
                    label = f"{format} {period:%Y-%m}" + (" (restated)" if number == 2 else "")
                    with progress.task(label, n_files) as task:
                        written, count = writer(con, out, delivery, task)
                    files += written
                    rows += count
                    deliveries.append(delivery.delivery_id)
                    if number == 1:
                        for kind, impact in measured.impacts.items():
                            impacts[kind] += impact
        finally:
            con.close()
    labels = [make_label(a, meters, impacts[a.kind]) for a in anomalies]
    labels_path = out / "labels.json"
    labels_path.write_text(
        json.dumps({"seed": seed, "anomalies": [lb.as_json() for lb in labels]}, indent=2) + "\n"
    )
    return SampleResult(
        files=list(dict.fromkeys(files)),
        line_items=rows,
        periods=periods,
        labels_path=labels_path,
        seconds=time.perf_counter() - started,
        export=name,
        format=format,
        deliveries=deliveries,
    )


def validate_sample_arguments(format: str, months: int, scale: float, seed: int) -> None:
    """Raise ``SampleError`` naming the option when ``generate_sample`` cannot make it."""
    if format not in FORMATS:
        raise SampleError(
            f"unknown format {format!r}",
            where="--format",
            fix=f"use one of {', '.join(FORMATS)}",
        )
    if not 1 <= months <= 36:
        raise SampleError(f"{months} months of history", where="--months", fix="use 1 to 36")
    if not 0 < scale <= 500:
        raise SampleError(f"scale {scale}", where="--scale", fix="use a number in (0, 500]")
    if seed < 0:
        raise SampleError(f"seed {seed}", where="--seed", fix="use a non-negative integer")
