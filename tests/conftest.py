"""Shared fixtures: a temporary data folder, the real samples, in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"


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
