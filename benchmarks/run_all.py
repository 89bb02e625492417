"""Run every benchmark script in this folder (``make bench``), one after another.

Each ``bench_*.py``, ``*_eval.py`` and ``*_sweep.py`` generates its own data at scale and prints
its figures next to a baseline measured in the same run. Extra arguments are passed to every
script.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = [*sorted(HERE.glob("bench_*.py")), *sorted(HERE.glob("*_eval.py"))]
    scripts += sorted(HERE.glob("*_sweep.py"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *sys.argv[1:]])
        print(f"=== {script.name}: exit {rc} in {time.perf_counter() - started:.0f}s", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
