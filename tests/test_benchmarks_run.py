"""The benchmarks that write ``line_items`` themselves still run against today's schema.

They are measured with ``make bench``, not here: this runs each on a few thousand rows, where
their targets mean nothing, and checks only that it gets to its verdict (exit 0 or 1, the ratio
printed, no traceback), so a schema change cannot silently break them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "verdict"),
    [
        ("bench_attribute.py", ("--rows", "20000", "--pandas-rows", "2000", "--repeat", "1"),
         "attribute is"),
        ("bench_scorecards.py", ("--rows", "20000", "--repeat", "1", "--stages"),
         "ratio scorecards / baseline"),
        ("bench_dashboard.py", ("--rows", "20000", "--small-rows", "10000", "--repeat", "1",
                                "--no-browser"), "every page big"),
        ("bench_scale.py", ("--rows", "20000", "--small-rows", "10000", "--repeat", "1",
                            "--lines-per-resource", "20"), "worst query ratio"),
        ("anomaly_eval.py", ("--hourly", "--quick", "--per-seed", "2", "--jobs", "1"),
         "false alerts <= 1 per 100 series-weeks"),
        ("anomaly_eval.py", ("--by-setting", "--quick", "--per-seed", "1", "--jobs", "1"),
         "drift recall >= 0.75"),
    ],
)  # fmt: skip
def test_benchmark_runs_to_its_verdict(script: str, args: tuple[str, ...], verdict: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    assert "Traceback" not in out.stderr and verdict in out.stdout, out.stdout + out.stderr
