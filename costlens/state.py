"""The state database: small, transactional records written by the CLI and the dashboard alike.

SQLAlchemy 2 ORM on ``settings.state_database_url`` (a SQLite file in the data folder by default,
PostgreSQL in production). Each concern adds its model here, on ``Base``; ``create_all`` makes any
missing table.

>>> engine = make_engine("sqlite://")
>>> create_all(engine)
>>> with session_factory(engine)() as s:
...     _ = s.add(RuleSetVersion(version="v1", rules_sha256="a", owners_sha256="b",
...                              rules_path="r.yaml", owners_path="o.yaml", periods="all", rows=3))
...     s.commit()
...     s.query(RuleSetVersion).one().version
'v1'
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, Integer, String, create_engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from costlens.errors import ConfigError, first_line

__all__ = [
    "AnomalyFeedback",
    "Base",
    "RuleSetVersion",
    "create_all",
    "make_engine",
    "session_factory",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every state model."""


class RuleSetVersion(Base):
    """One application of a rule set by ``costlens attribute``: which files, which content, when.

    ``version`` is what every ``allocations`` row carries in ``rule_version``.
    """

    __tablename__ = "rule_set_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    rules_sha256: Mapped[str] = mapped_column(String(64))
    owners_sha256: Mapped[str] = mapped_column(String(64))
    rules_path: Mapped[str] = mapped_column(String(1024))
    owners_path: Mapped[str] = mapped_column(String(1024))
    periods: Mapped[str] = mapped_column(String(1024), default="all")
    """Billing periods re-attributed, comma-separated (``all`` for every period)."""
    rows: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


_WHERE = "state_url (COSTLENS_STATE_URL)"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created if needed.

    A URL SQLAlchemy cannot parse, a missing database driver or a folder that cannot be created
    is a ``ConfigError`` naming ``state_url`` (never showing the URL: it may hold a password).
    """
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the state database's folder {folder} ({exc.strerror})",
                where=_WHERE,
                fix=_sqlite_fix(folder),
            ) from None
    try:
        return create_engine(url)
    except (ImportError, NoSuchModuleError) as exc:  # (before its base ArgumentError)
        raise ConfigError(
            f"no database driver for this URL ({exc})",
            where=_WHERE,
            fix="install the driver the URL names (e.g. psycopg for postgresql+psycopg)",
        ) from None
    except ArgumentError:
        raise ConfigError(
            "not a database URL",
            where=_WHERE,
            fix="write a SQLAlchemy URL such as sqlite:///path/state.db or "
            "postgresql+psycopg://user@host/db (the password in PGPASSWORD)",
        ) from None


def create_all(engine: Engine) -> None:
    """Create every missing state table (``ConfigError`` when the database cannot be reached)."""
    try:
        Base.metadata.create_all(engine)
    except DBAPIError as exc:
        shown = engine.url.render_as_string(hide_password=True)
        reason = first_line(exc.orig, "no reason") if exc.orig is not None else "no reason"
        sqlite_file = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
        raise ConfigError(
            f"cannot use the state database {shown} ({reason})",
            where=_WHERE,
            fix=_sqlite_fix(Path(sqlite_file).parent, Path(sqlite_file))
            if sqlite_file and sqlite_file != ":memory:"
            else "check the database is running and reachable with these credentials",
        ) from None


def _sqlite_fix(folder: Path, file: Path | None = None) -> str:
    """What to do when a SQLite state database's file or folder cannot be used."""
    place = "a writable place; set data_dir or COSTLENS_DATA_DIR (or state_url)"
    if file is None:
        return f"check that the folder {folder} can be created by this user, or point it at {place}"
    return (
        f"check that {file} is an SQLite database (or absent) and that its folder {folder} "
        f"exists, is a folder and is writable by this user, or point it at {place}"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` (use ``with factory() as session:``)."""
    return sessionmaker(engine, expire_on_commit=False)


class AnomalyFeedback(Base):
    """A user's verdict (expected, planned or real) on one anomaly event, by its stable id; see
    ``costlens.anomalies.feedback``."""

    __tablename__ = "anomaly_feedback"

    anomaly_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(2000), default="")
    marked_by: Mapped[str] = mapped_column(String(200), default="")
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
