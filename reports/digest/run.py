"""Plan, preview and send a week's digests: one per owner with an email address, and the
leadership ranking to ``[digest] leadership``; rate-limited, one failure never stops the others,
every message logged in the state database before it is handed to the server."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from costlens.attribution.owners import Owner, OwnersRegistry
from costlens.config import Settings
from costlens.errors import MailError, ReportError
from costlens.queries import CostType, Snapshot
from costlens.state import utc_now
from reports.digest.figures import leadership_digest, owner_digest
from reports.digest.log import digest_log, finish_send, start_send
from reports.digest.message import (
    build_message,
    render_html,
    render_leadership_html,
    render_leadership_text,
    render_text,
    subject,
)
from reports.digest.transport import Transport
from reports.digest.week import IsoWeek

__all__ = [
    "LEADERSHIP",
    "Outcome",
    "Planned",
    "plan_digests",
    "preview",
    "render_digest",
    "send_digests",
    "write_previews",
]

LEADERSHIP = "*"
"""The owner key of the leadership digest in the log."""

DEFAULT_COST_TYPE: CostType = "unblended"
"""The dashboard's default cost type (DESIGN.md, "Cost types")."""


@dataclass(frozen=True)
class Planned:
    """One digest to send: who, what, and its rendered parts."""

    owner: str
    """Owner id, or ``LEADERSHIP``."""
    name: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one planned digest."""

    owner: str
    recipients: tuple[str, ...]
    status: str
    """sent, partial, failed, skipped (already sent), unconfirmed (a killed run's), dry-run."""
    message_id: str = ""
    answer: str = ""

    def as_json(self) -> dict[str, Any]:
        """The outcome for ``--json`` (no secrets: addresses, ids and answers only)."""
        return {
            "owner": self.owner,
            "recipients": list(self.recipients),
            "status": self.status,
            "message_id": self.message_id,
            "answer": self.answer,
        }


def render_digest(
    snap: Snapshot, owner: Owner, week: IsoWeek, *, dashboard_url: str = "http://localhost:8501"
) -> str:
    """The HTML of ``owner``'s digest of ``week`` (what the dashboard's Reports page shows)."""
    return render_html(owner_digest(snap, owner, week, cost_type=DEFAULT_COST_TYPE), dashboard_url)


def preview(snap: Snapshot, owner: Owner, week: IsoWeek | str, dashboard_url: str = "") -> str:
    """``render_digest`` taking the week as ``YYYY-Www`` too."""
    chosen = IsoWeek.parse(week) if isinstance(week, str) else week
    return render_digest(
        snap, owner, chosen, dashboard_url=dashboard_url or "http://localhost:8501"
    )


def plan_digests(
    settings: Settings,
    snap: Snapshot,
    registry: OwnersRegistry,
    week: IsoWeek,
    *,
    owner: str | None = None,
) -> list[Planned]:
    """Every digest of ``week``: owners with an email (or the one ``owner``), then leadership."""
    if owner is not None and owner not in registry.owners and owner != LEADERSHIP:
        raise ReportError(
            f"unknown owner {owner!r}",
            where="--owner",
            fix=f"use one of: {', '.join(sorted(registry.owners))}",
        )
    url = settings.dashboard_url
    out = []
    for o in sorted(registry.owners.values(), key=lambda o: o.id):
        if not o.emails or owner not in (None, o.id):
            continue
        d = owner_digest(snap, o, week, cost_type=DEFAULT_COST_TYPE)
        out.append(
            Planned(
                o.id, o.display_name, o.emails, subject(d), render_text(d, url), render_html(d, url)
            )
        )
    if settings.digest.leadership and owner in (None, LEADERSHIP):
        owners = sorted(registry.owners.values(), key=lambda o: o.id)
        ld = leadership_digest(snap, owners, week, cost_type=DEFAULT_COST_TYPE)
        out.append(
            Planned(
                LEADERSHIP,
                "leadership",
                tuple(settings.digest.leadership),
                subject(ld),
                render_leadership_text(ld, url),
                render_leadership_html(ld, url),
            )
        )
    return out


def _message_id(settings: Settings, p: Planned, week: IsoWeek) -> str:
    domain = settings.mail.sender.rpartition("@")[2] or "costlens.invalid"
    key = re.sub(r"[^A-Za-z0-9.-]", "-", "all" if p.owner == LEADERSHIP else p.owner)
    # Short enough never to be folded: <random.week.owner@domain>.
    return (
        f"<{secrets.token_hex(8)}.{week}.{key[:32]}@{re.sub(r'[^A-Za-z0-9.-]', '', domain)[:60]}>"
    )


def message_for(
    settings: Settings, p: Planned, *, message_id: str, references: str = "", date: datetime
) -> EmailMessage:
    """The MIME message of a planned digest."""
    return build_message(
        subject_line=p.subject,
        text=p.text,
        html_body=p.html,
        sender=settings.mail.sender,
        recipients=p.recipients,
        message_id=message_id,
        date=date,
        references=references or None,
        unsubscribe=settings.digest.unsubscribe,
        owner_name=p.name,
    )


def write_previews(
    settings: Settings, planned: Sequence[Planned], week: IsoWeek, folder: Path
) -> list[Path]:
    """``--dry-run DIR``: one ``.eml`` and one ``.html`` per digest."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for p in planned:
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", "leadership" if p.owner == LEADERSHIP else p.owner)
        msg = message_for(settings, p, message_id=_message_id(settings, p, week), date=utc_now())
        eml, page = folder / f"{stem}-{week}.eml", folder / f"{stem}-{week}.html"
        eml.write_bytes(msg.as_bytes())
        page.write_text(p.html, encoding="utf-8")
        files += [eml, page]
    return files


def send_digests(
    settings: Settings,
    planned: Sequence[Planned],
    week: IsoWeek,
    transport: Transport,
    *,
    resend: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Outcome]:
    """Send each planned digest not yet logged for ``week`` (all again with ``resend``).

    Order per message: log ``sending`` (committed), hand it to the server, log the answer. A run
    killed between the two leaves ``sending``; the next run reports it ``unconfirmed`` and does
    not send it again (a possible miss, never a duplicate; ``--resend --owner`` repairs it).
    """
    url = settings.state_database_url
    gap = 1.0 / settings.mail.rate_per_second
    last: float | None = None
    outcomes = []
    for p in planned:
        earlier = digest_log(url, week=str(week), owner=p.owner)
        done = [r for r in earlier if r.status in ("sent", "partial", "sending")]
        if done and not resend:
            status = "unconfirmed" if done[-1].status == "sending" else "skipped"
            outcomes.append(Outcome(p.owner, p.recipients, status, done[-1].message_id))
            continue
        first = next((r.message_id for r in earlier if r.status in ("sent", "partial")), "")
        if last is not None and clock() - last < gap:
            sleep(gap - (clock() - last))
        message_id = _message_id(settings, p, week)
        msg = message_for(settings, p, message_id=message_id, references=first, date=utc_now())
        row = start_send(
            url,
            owner=p.owner,
            week=str(week),
            message_id=message_id,
            references=first,
            recipients=",".join(p.recipients),
        )
        last = clock()
        try:
            delivery = transport.send(msg, p.recipients)
        except MailError as exc:
            finish_send(url, row, status="failed", answer=exc.message)
            outcomes.append(Outcome(p.owner, p.recipients, "failed", message_id, exc.message))
            continue
        answer = "; ".join(f"{r}: {a}" for r, a in delivery.refused.items())
        status = "partial" if delivery.refused else "sent"
        finish_send(url, row, status=status, answer=answer)
        outcomes.append(Outcome(p.owner, p.recipients, status, message_id, answer))
    return outcomes
