"""``costlens sync`` / ``refresh`` through the real CLI on a generated bill: totals tie out, a
reader process never sees an error while syncs run, overlapping runs are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from costlens import queries as q
from costlens.schema import COST_COLUMNS
from costlens.sync import sync_lock

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COSTLENS_DATA_DIR": str(data_dir),
        "COSTLENS_RULES": str(REPO / "data" / "rules.yaml"),
        "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml"),
        "PYTHONWARNINGS": "ignore",
    }


def _costlens(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in ("rules.yaml", "owners.yaml"):
        if not (REPO / "data" / name).is_file():
            pytest.skip(f"data/{name} (the sample company's attribution) is not in the checkout")
    out = tmp_path_factory.mktemp("sync") / "exports"
    proc = _costlens(
        out.parent / "unused",
        *("generate-sample", str(out), "--format", "cur2", "--months", "2", "--seed", "5"),
        *("--scale", "0.02", "--end-month", "2025-03"),
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def synced(exports: Path) -> tuple[Path, dict[str, Any]]:
    data_dir = exports.parent / "data"
    proc = _costlens(data_dir, "sync", str(exports), "--json")
    assert proc.returncode == 0, proc.stderr
    return data_dir, json.loads(proc.stdout)  # stdout is only the JSON document


def test_sync_publishes_a_snapshot_that_ties_to_the_line_items(
    synced: tuple[Path, dict[str, Any]],
) -> None:
    data_dir, summary = synced
    assert summary["refresh"]["deliveries"] == 2
    assert summary["refresh"]["rule_set_version"] == summary["attribute"]["rule_version"]
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    want = dict(
        zip(
            COST_COLUMNS,
            con.execute(
                f"SELECT {', '.join(f'SUM({c})' for c in COST_COLUMNS)} FROM line_items"
            ).fetchall()[0],
            strict=True,
        )
    )
    con.close()
    with q.open_snapshot(data_dir) as snap:
        for cost_type in q.COST_TYPES:
            for grain in ("day", "month"):
                got = sum(q.spend(snap, grain=grain, by=("owner",), cost_type=cost_type)["cost"],
                          Decimal(0))  # fmt: skip
                assert got == Decimal(want[f"{cost_type}_cost"])
        assert snap.info.deliveries == 2
        assert len(q.budgets(snap)) > 0


_READER = textwrap.dedent(
    """
    import json, sys, time
    from decimal import Decimal
    from pathlib import Path
    from costlens import queries as q
    data_dir, stop = Path(sys.argv[1]), Path(sys.argv[2])
    errors, reads, stamps = [], 0, set()
    snap = q.open_snapshot(data_dir)
    while not stop.exists():
        try:
            if snap.is_stale():
                snap = snap.reopen()
            stamps.add(str(snap.stamp))
            by_day = sum(q.spend(snap)["cost"], Decimal(0))
            by_owner = sum(q.spend(snap, grain="month", by=("owner",))["cost"], Decimal(0))
            if by_day != by_owner:
                errors.append(f"partial snapshot: {by_day} != {by_owner}")
            q.anomalies(snap); q.budgets(snap); q.forecasts(snap)
            reads += 1
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.01)
    print(json.dumps({"errors": errors, "reads": reads, "stamps": len(stamps)}))
    """
)


def test_a_reader_process_never_fails_while_sync_runs_repeatedly(
    exports: Path, synced: tuple[Path, dict[str, Any]]
) -> None:
    data_dir = synced[0]
    stop = data_dir.parent / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(data_dir), str(stop)],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # A sync with nothing new keeps the published snapshot; `refresh --full` publishes one.
        for args in (("sync", str(exports)), ("refresh", "--full"), ("sync", str(exports))):
            proc = _costlens(data_dir, *args)
            assert proc.returncode == 0, proc.stderr
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["errors"] == []
    assert result["reads"] > 5
    assert result["stamps"] >= 2  # it reopened at least one newly published snapshot


def test_an_overlapping_sync_exits_75_with_one_line(exports: Path, data_dir: Path) -> None:
    with sync_lock(data_dir):
        proc = _costlens(data_dir, "sync", str(exports))
    assert proc.returncode == 75
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "a sync is already running (PID" in lines[0]


def test_refresh_before_attribute_says_what_to_run(data_dir: Path) -> None:
    proc = _costlens(data_dir, "refresh")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "costlens: error: warehouse.duckdb: allocations: the warehouse has no allocations "
        "table. Fix: run `costlens attribute` (or `costlens sync`) first"
    ]
    assert not (data_dir / "serving.duckdb").exists()


def test_refresh_of_an_empty_warehouse_publishes_an_empty_snapshot(data_dir: Path) -> None:
    """A new install: `attribute` and `refresh` run before AWS delivered the first export."""
    proc = _costlens(data_dir, "attribute")
    assert proc.returncode == 0, proc.stderr
    for args in (("refresh", "--json"), ("refresh", "--full")):
        proc = _costlens(data_dir, *args)
        assert proc.returncode == 0, proc.stderr
    with q.open_snapshot(data_dir) as snap:
        assert (snap.info.first_date, snap.info.last_date) == (None, None)
        assert snap.info.allocation_rows == 0
        assert q.spend(snap).empty
        assert q.forecasts(snap).empty
        assert q.anomalies(snap).empty


def test_turning_the_hourly_grain_on_and_off_needs_no_new_delivery(
    exports: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    assert _costlens(data_dir, "sync", str(exports), "--json").returncode == 0

    def sync(grain: str) -> dict[str, Any]:
        env = {**_env(data_dir), "COSTLENS_ANOMALIES__GRAIN": grain}
        proc = subprocess.run(
            [sys.executable, "-m", "costlens", "sync", str(exports), "--json"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        summary: dict[str, Any] = json.loads(proc.stdout)
        return summary

    on = sync("hour")  # nothing delivered since: no period re-attributed, the hourly rows are
    assert on["attribute"]["periods"] == [] and on["attribute"]["hourly"]["since"] == "2025-03-11"
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    rows, first = con.execute("SELECT count(*), min(usage_date) FROM allocations_hourly").fetchone()
    sums = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
    hourly = con.execute(f"SELECT {sums} FROM allocations_hourly").fetchone()
    lines = con.execute(
        f"SELECT {sums} FROM line_items WHERE usage_start >= TIMESTAMP '2025-03-11'"
    ).fetchone()
    con.close()
    assert rows == on["attribute"]["hourly"]["rows"] > 0 and str(first) == "2025-03-11"
    assert hourly == lines  # 21 days up to 31 March, exactly
    with q.open_snapshot(data_dir) as snap:  # rebuilt with the hourly scan (a new inputs key)
        assert set(q.anomalies(snap, include_marked=True, incidents=False)["grain"]) <= {
            "day",
            "hour",
        }
        assert snap.layout == "serving-9"
    assert "hourly" not in sync("hour")["attribute"]  # already current: not written again
    sync("day")
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    assert not con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'allocations_hourly'"
    ).fetchall()
    con.close()
