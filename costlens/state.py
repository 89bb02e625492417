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

import getpass
import json
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    create_engine,
    select,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from costlens.errors import ConfigError, first_line

__all__ = [
    "AnomalyFeedback",
    "Base",
    "ExportRecord",
    "PeriodEvent",
    "RuleSetVersion",
    "create_all",
    "current_actor",
    "export_records",
    "make_engine",
    "period_events",
    "record_export",
    "record_period_event",
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


class PeriodEvent(Base):
    """A close or a reopen of a billing month (``costlens close`` / ``reopen``), with who, why
    and the frozen totals at that moment (JSON: cost column -> decimal text)."""

    __tablename__ = "period_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    billing_period: Mapped[date] = mapped_column(Date, index=True)
    action: Mapped[str] = mapped_column(String(16))
    """``close`` or ``reopen``."""
    reason: Mapped[str] = mapped_column(String(2000), default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    totals: Mapped[str] = mapped_column(Text, default="{}")


class ExportRecord(Base):
    """One finance export written by ``costlens export``: what, for whom, where, and whether it
    reconciled to the line items."""

    __tablename__ = "export_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    actor: Mapped[str] = mapped_column(String(200), default="")
    periods: Mapped[str] = mapped_column(String(32))
    """``YYYY-MM..YYYY-MM``."""
    format: Mapped[str] = mapped_column(String(16))
    cost_type: Mapped[str] = mapped_column(String(32))
    by: Mapped[str] = mapped_column(String(1024), default="")
    """The grouping, comma-separated (owner, microservice, ...)."""
    path: Mapped[str] = mapped_column(String(4096))
    totals: Mapped[str] = mapped_column(Text, default="{}")
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot_built_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, default=None
    )


def current_actor(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: ``COSTLENS_USER``, else the login name, else ''.

    >>> current_actor({"COSTLENS_USER": "finance-bot"})
    'finance-bot'
    """
    env = os.environ if environ is None else environ
    if env.get("COSTLENS_USER", "").strip():
        return env["COSTLENS_USER"].strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return ""


def _totals_json(totals: Mapping[str, Any] | None) -> str:
    return json.dumps({k: str(v) for k, v in (totals or {}).items()}, sort_keys=True)


def _with_session(url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url)
    create_all(engine)
    return engine, session_factory(engine)


def record_period_event(
    url: str,
    *,
    billing_period: date,
    action: str,
    reason: str = "",
    actor: str | None = None,
    totals: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> PeriodEvent:
    """Log a ``close`` or ``reopen`` of ``billing_period`` in the state database at ``url``."""
    if action not in ("close", "reopen"):
        raise ValueError(f"action must be close or reopen, not {action!r}")
    engine, factory = _with_session(url)
    try:
        with factory() as session:
            row = PeriodEvent(
                billing_period=billing_period,
                action=action,
                reason=reason,
                actor=current_actor() if actor is None else actor,
                at=at or utc_now(),
                totals=_totals_json(totals),
            )
            session.add(row)
            session.commit()
            return row
    finally:
        engine.dispose()


def period_events(url: str, period: date | None = None) -> list[PeriodEvent]:
    """The close and reopen events (of ``period``, or all), oldest first."""
    engine, factory = _with_session(url)
    try:
        with factory() as session:
            query = select(PeriodEvent).order_by(PeriodEvent.at, PeriodEvent.id)
            if period is not None:
                query = query.where(PeriodEvent.billing_period == period)
            return list(session.scalars(query))
    finally:
        engine.dispose()


def record_export(
    url: str,
    *,
    periods: str,
    format: str,
    cost_type: str,
    by: str,
    path: str,
    totals: Mapping[str, Any] | None = None,
    reconciled: bool,
    snapshot_built_at: datetime | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> ExportRecord:
    """Log a finance export (``periods`` as ``YYYY-MM..YYYY-MM``) in the state database."""
    engine, factory = _with_session(url)
    try:
        with factory() as session:
            row = ExportRecord(
                at=at or utc_now(),
                actor=current_actor() if actor is None else actor,
                periods=periods,
                format=format,
                cost_type=cost_type,
                by=by,
                path=path,
                totals=_totals_json(totals),
                reconciled=reconciled,
                snapshot_built_at=snapshot_built_at,
            )
            session.add(row)
            session.commit()
            return row
    finally:
        engine.dispose()


def export_records(url: str) -> list[ExportRecord]:
    """Every logged finance export, oldest first."""
    engine, factory = _with_session(url)
    try:
        with factory() as session:
            return list(
                session.scalars(select(ExportRecord).order_by(ExportRecord.at, ExportRecord.id))
            )
    finally:
        engine.dispose()
