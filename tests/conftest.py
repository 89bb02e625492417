"""Shared fixtures: a temporary data folder, the real samples, in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from helpers import WallClockReached

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"
PINNED_TODAY = "2025-07-16"
"""The date every test runs on (``COSTLENS_TODAY``): no test depends on the machine's clock.
Tests that generate sample data still name their months (``end_month``, ``--end-month``)."""


@pytest.fixture
def samples_dir() -> Path:
    """``../shared/samples`` beside the checkout; tests using it skip where it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real AWS sample exports not found at {SAMPLES} (they live beside the repo)")
    return SAMPLES


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data folder for a warehouse."""
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection."""
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own costlens configuration or AWS credentials."""
    import os

    for name in list(os.environ):
        if name.startswith(("COSTLENS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COSTLENS_TODAY", PINNED_TODAY)


@pytest.fixture(autouse=True)
def _no_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reaching ``costlens.clock`` from a test is a failure: the test would pass or fail with the
    calendar. Pin the date instead (``COSTLENS_TODAY``, ``end_month=``, ``--end-month``).
    ``tests/test_clock.py`` checks statically that nothing reads the clock another way."""

    def refuse() -> None:
        raise WallClockReached(
            "a test reached the wall clock (costlens.clock.wall_clock_today): pin the date "
            "with COSTLENS_TODAY, end_month= or --end-month"
        )

    monkeypatch.setattr("costlens.clock.wall_clock_today", refuse)
