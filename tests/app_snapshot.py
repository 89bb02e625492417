"""A small real serving snapshot for the dashboard tests, built once per test session.

It is made by the real pipeline through the CLI, in subprocesses (the same commands a user runs):
``generate-sample`` (CUR 2.0, 3 months, scale 0.15) → ``ingest`` → ``attribute`` → ``refresh``.
``generate_sample`` and ``sync_exports`` build other data folders the same way (any exports
folder, any owners.yaml). When a stage is missing or fails, the tests fail saying which command
and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parent.parent
APP_FILE = REPO / "app.py"
OWNERS_YAML = REPO / "data" / "owners.yaml"
RULES_YAML = REPO / "data" / "rules.yaml"
if str(REPO) not in sys.path:  # app_pages is not an installed package
    sys.path.insert(0, str(REPO))

SAMPLE_ARGS = ("--format", "cur2", "--months", "3", "--seed", "11", "--scale", "0.15")
SAMPLE_ARGS += ("--end-month", "2025-06")
"""Scale 0.15: the injected spike ($900/day x scale) clears the detector's $100 gate, so the
anomaly pages have an incident to show (at 0.05 nothing but billing events was anomalous)."""


@dataclass(frozen=True)
class DemoData:
    """A data folder holding ``warehouse.duckdb`` and a published ``serving.duckdb``."""

    data_dir: Path
    owners: Path = OWNERS_YAML
    rules: Path = RULES_YAML

    def env(self) -> dict[str, str]:
        """The environment ``costlens serve`` would give the dashboard for this folder."""
        return {
            "COSTLENS_DATA_DIR": str(self.data_dir),
            "COSTLENS_RULES": str(self.rules),
            "COSTLENS_OWNERS": str(self.owners),
        }


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"building the dashboard's test snapshot failed at `costlens {' '.join(args)}` "
            f"(exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}",
            pytrace=False,
        )


_built: dict[str, DemoData] = {}


def build_demo_data(root: Path) -> DemoData:
    """Run the real pipeline into ``root`` once per session; later calls reuse the result."""
    if "demo" in _built:
        return _built["demo"]
    data = DemoData(root / "data")
    data.data_dir.mkdir(parents=True)
    env = data.env()
    exports = root / "exports"
    _run(["generate-sample", str(exports), *SAMPLE_ARGS], env)
    _run(["ingest", str(exports)], env)
    _run(["attribute"], env)
    _run(["refresh"], env)
    if not (data.data_dir / "serving.duckdb").is_file():
        pytest.fail("`costlens refresh` succeeded but wrote no serving.duckdb", pytrace=False)
    _built["demo"] = data
    return data


def generate_sample(out: Path, *args: str) -> Path:
    """``costlens generate-sample OUT ARGS`` (pass ``--end-month``: no test depends on today)."""
    assert "--end-month" in args, "name the sample's last month"
    _run(["generate-sample", str(out), *args], {})
    return out


def sync_exports(data: DemoData, exports: Path) -> DemoData:
    """``costlens sync EXPORTS`` into ``data`` (a new data folder), as a user's first sync."""
    data.data_dir.mkdir(parents=True, exist_ok=True)
    _run(["sync", str(exports)], data.env())
    if not (data.data_dir / "serving.duckdb").is_file():
        pytest.fail(
            f"`costlens sync {exports}` succeeded but wrote no serving.duckdb", pytrace=False
        )
    return data


# --- independent figures, straight from the warehouse's allocations (a contract table) ---------

_SPEND_SQL = """
SELECT SUM({cost}), MIN(usage_date), MAX(usage_date)
FROM allocations WHERE usage_date BETWEEN $start AND $end
  AND (CAST($owner AS VARCHAR) IS NULL OR owner = $owner)
"""
_COST_COLUMNS = ("unblended_cost", "amortized_cost", "net_amortized_cost")
_RANGE_SQL = "SELECT MIN(usage_date), MAX(usage_date) FROM allocations"


def warehouse_spend(
    data: DemoData,
    start: date,
    end: date,
    cost: str = "unblended_cost",
    *,
    owner: str | None = None,
) -> Decimal:
    """Exact spend of ``allocations`` (the ``cost`` column) between two dates (inclusive), of
    one ``owner`` or of all."""
    assert cost in _COST_COLUMNS, cost
    params = {"start": start, "end": end, "owner": owner}
    with duckdb.connect(str(data.data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(_SPEND_SQL.format(cost=cost), params).fetchone()
    assert row is not None
    return Decimal(row[0] or 0)


def warehouse_owners(data: DemoData) -> list[str]:
    """Every owner ``allocations`` holds, sorted."""
    with duckdb.connect(str(data.data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT owner FROM allocations ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def warehouse_dates(data: DemoData) -> tuple[date, date]:
    """First and last usage date in ``allocations``."""
    with duckdb.connect(str(data.data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(_RANGE_SQL).fetchone()
    assert row is not None
    return row[0], row[1]


def dollars(value: Decimal) -> str:
    """``$12,345.67``, written independently of the app's formatter."""
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return ("-" if cents < 0 else "") + "$" + f"{abs(cents):,}"


def month_to_date_windows(last: date) -> tuple[date, date, date]:
    """(first of ``last``'s month, start and end of the as many days of last month compared with
    it): those days end on the same day of last month, or on its last day when it is shorter."""
    month_start = last.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    prev_end = last_month_end.replace(day=min(last.day, last_month_end.day))
    return month_start, prev_end - timedelta(days=last.day - 1), prev_end
