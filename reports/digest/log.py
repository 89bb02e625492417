"""The digest log in the state database: one row per message handed to the server, so a re-run
of the same week sends nothing and a killed run resumes without duplicates (docs/digest.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from costlens.state import Base, create_all, make_engine, session_factory, utc_now

__all__ = ["DigestRecord", "digest_log", "finish_send", "start_send"]

STATUSES = ("sending", "sent", "partial", "failed")
"""``sending``: recorded before the SMTP transaction, not yet confirmed (a run killed there
leaves it: the next run does not send it again). ``partial``: some recipients refused."""


class DigestRecord(Base):
    """One digest message: to whom, for which owner and week, and what the server said."""

    __tablename__ = "digest_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    """The owner id, or ``*`` for the leadership digest."""
    week: Mapped[str] = mapped_column(String(8), index=True)
    """``YYYY-Www``."""
    message_id: Mapped[str] = mapped_column(String(300))
    references: Mapped[str] = mapped_column(String(300), default="")
    """The first send's Message-ID when this is a ``--resend``."""
    recipients: Mapped[str] = mapped_column(Text)
    """Comma-separated addresses."""
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str] = mapped_column(Text, default="")
    """The server's answer for refused recipients or a failure."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def digest_log(
    url: str, *, week: str | None = None, owner: str | None = None
) -> list[DigestRecord]:
    """Logged digests, oldest first, of one week and/or owner if given."""
    engine = make_engine(url)
    create_all(engine)
    try:
        query = select(DigestRecord).order_by(DigestRecord.id)
        if week is not None:
            query = query.where(DigestRecord.week == week)
        if owner is not None:
            query = query.where(DigestRecord.owner == owner)
        with session_factory(engine)() as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


def start_send(
    url: str, *, owner: str, week: str, message_id: str, references: str, recipients: str
) -> int:
    """Record a message as ``sending`` (committed before the server sees it); its row id."""
    engine = make_engine(url)
    create_all(engine)
    try:
        with session_factory(engine)() as session:
            row = DigestRecord(
                owner=owner, week=week, message_id=message_id, references=references,
                recipients=recipients, status="sending", answer="", created_at=utc_now(),
            )  # fmt: skip
            session.add(row)
            session.commit()
            return row.id
    finally:
        engine.dispose()


def finish_send(url: str, row_id: int, *, status: str, answer: str = "") -> None:
    """Record what the server said about a message."""
    assert status in STATUSES, status
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            row = session.get(DigestRecord, row_id)
            assert row is not None
            row.status, row.answer = status, answer
            row.sent_at = utc_now() if status in ("sent", "partial") else None
            session.commit()
    finally:
        engine.dispose()
