"""Shared fixtures: a temporary data folder, the real samples, in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import WallClockReached, free_port

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


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database URL (SQLAlchemy, psycopg): ``COSTLENS_TEST_POSTGRES_URL`` when set
    (CI starts a cluster), else a throwaway cluster on 127.0.0.1 started here and stopped at the
    end; skips, saying why, where neither is possible."""
    import os
    import shutil
    import subprocess

    given = os.environ.get("COSTLENS_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[dev]')")
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.is_file():
        pytest.skip(f"no PostgreSQL binaries at {PG_BIN} and COSTLENS_TEST_POSTGRES_URL unset")
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    import tempfile

    # Its own folder under the system temp dir: pytest's are private to this user, and the
    # server runs as postgres when we are root.
    root = Path(tempfile.mkdtemp(prefix="costlens-pg-"))
    cluster = root / "cluster"
    if run_as:
        shutil.chown(root, "postgres")
        root.chmod(0o700)
    port = free_port()
    try:
        subprocess.run(
            [*run_as, str(initdb), "-D", str(cluster), "-U", "costlens", "--auth=trust", "-E",
             "UTF8"], check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(cluster), "-l", str(root / "log"), "-w", "-o",
             f"-h 127.0.0.1 -p {port} -k {root}", "start"], check=True, capture_output=True,
            timeout=120,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot start a PostgreSQL cluster: {exc} {detail.decode(errors='replace')}")
    try:
        yield f"postgresql+psycopg://costlens@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(pg_ctl), "-D", str(cluster), "-m", "fast", "stop"],
            check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state database of each kind (the PostgreSQL one of ``postgres_url``)."""
    from costlens.state import Base, make_engine

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")

    def drop_all() -> None:
        engine = make_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()

    drop_all()
    yield url
    drop_all()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The dashboard tests' sample snapshot (``app_snapshot.build_demo_data``, built once)."""
    from app_snapshot import build_demo_data

    return build_demo_data(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def snap(demo: Any) -> Iterator[Any]:
    """The sample's serving snapshot, open."""
    from costlens import queries

    with queries.open_snapshot(demo.data_dir) as opened:
        yield opened


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local Spark session for one test module (the Spark modules skip without PySpark)."""
    from costlens.engines.spark import spark_session

    session = spark_session()
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
