"""The serving snapshot: published atomically, readers never block and never see a partial one."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import create_allocations

from costlens import queries as q
from costlens.config import Settings, load_settings
from costlens.errors import CostlensError
from costlens.refresh import refresh
from costlens.serving import SERVING_FILE, snapshot_stamp
from costlens.warehouse import open_warehouse

# Every row costs exactly 1.5 (each cost type), so a consistent snapshot has
# total == 1.5 * allocation_rows whatever version it is.
_ADD_ROWS = """
INSERT INTO allocations SELECT
  DATE '2024-01-01' + CAST((i + $offset) % 60 AS INTEGER) AS d, date_trunc('month', d), 'p',
  'acct-' || (i % 3), 'AmazonEC2', 'us-east-1', 'u', 'i-' || i, 'Usage', 'Usage', 'OnDemand',
  'ms-' || (i % 5), 'owner-' || (i % 2), 'direct', 'r', 1.5, 1.5, 1.5, 1.5, 1
FROM range($n) t(i)
"""


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None, data_dir=data_dir, rules=data_dir / "rules.yaml", owners=data_dir / "owners.yaml"
    )


def _grow(data_dir: Path, n: int, offset: int = 0) -> None:
    with open_warehouse(data_dir) as wh:
        if offset == 0:
            create_allocations(wh.con)
        wh.con.execute(_ADD_ROWS, {"n": n, "offset": offset})
        refresh(wh, _settings(data_dir))


def test_an_open_reader_keeps_its_snapshot_until_it_reopens(data_dir: Path) -> None:
    _grow(data_dir, 600)
    old = q.open_snapshot(data_dir)
    assert not old.is_stale()
    _grow(data_dir, 300, offset=600)
    # The old connection still reads the file it opened (the replaced inode), consistently.
    assert old.is_stale()
    assert old.info.allocation_rows == 600
    assert sum(q.spend(old)["cost"], Decimal(0)) == Decimal("900")
    new = old.reopen()
    assert new.info.allocation_rows == 900
    assert sum(q.spend(new)["cost"], Decimal(0)) == Decimal("1350")
    assert not new.is_stale()
    new.close()
    assert sorted(p.name for p in data_dir.iterdir() if "serving" in p.name) == [SERVING_FILE]


def test_a_failed_refresh_keeps_the_previous_snapshot(data_dir: Path) -> None:
    _grow(data_dir, 100)
    before = snapshot_stamp(data_dir / SERVING_FILE)
    with open_warehouse(data_dir) as wh:
        wh.con.execute(_ADD_ROWS, {"n": 50, "offset": 0})
        # The detector refuses a negative threshold after the rollups were already built.
        with pytest.raises(CostlensError, match="min_impact"):
            refresh(wh, _settings(data_dir), detector_options={"min_impact": -1.0})
    assert snapshot_stamp(data_dir / SERVING_FILE) == before
    assert sorted(p.name for p in data_dir.iterdir() if "serving" in p.name) == [SERVING_FILE]
    with q.open_snapshot(data_dir) as snap:
        assert snap.info.allocation_rows == 100


def test_readers_never_see_an_error_or_a_partial_snapshot_while_refresh_runs(
    data_dir: Path,
) -> None:
    _grow(data_dir, 500)
    seen: set[int] = set()
    errors: list[str] = []
    reads = 0
    done = threading.Event()

    def read_loop() -> None:
        nonlocal reads
        snap = q.open_snapshot(data_dir)
        try:
            while not done.is_set():
                if snap.is_stale():
                    snap = snap.reopen()
                rows = snap.info.allocation_rows
                total = sum(q.spend(snap, grain="month", by=("owner",))["cost"], Decimal(0))
                daily = sum(q.spend(snap, by=("account_id",))["cost"], Decimal(0))
                if not total == daily == Decimal("1.5") * rows:
                    errors.append(f"{rows} rows but totals {total} / {daily}")
                q.anomalies(snap)
                seen.add(rows)
                reads += 1
        except Exception as exc:  # the point of the test: there must be none
            errors.append(repr(exc))
        finally:
            snap.close()

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for k in range(1, 6):
            _grow(data_dir, 100, offset=500 + 100 * k)
            time.sleep(0.05)
    finally:
        done.set()
        reader.join(timeout=30)
    assert errors == []
    assert reads > 10
    assert len(seen) >= 2  # it saw snapshots come and go
    assert seen <= {500 + 100 * k for k in range(6)}
