"""The weekly email digest: per owner what it cost, what changed and what to do; and the
leadership ranking of all owners (docs/digest.md).

Figures come from ``costlens.queries`` (``figures``); ``message`` renders text and HTML and
assembles the MIME message; ``transport`` talks SMTP or SES; ``run`` plans, previews and sends
with the log in the state database (``log``)."""

from __future__ import annotations

from reports.digest.figures import LeadershipDigest, OwnerDigest, leadership_digest, owner_digest
from reports.digest.log import DigestRecord, digest_log
from reports.digest.run import (
    LEADERSHIP,
    Outcome,
    Planned,
    plan_digests,
    preview,
    render_digest,
    send_digests,
    write_previews,
)
from reports.digest.transport import SesTransport, SmtpTransport, Transport, open_transport
from reports.digest.week import IsoWeek, last_complete_week

__all__ = [
    "LEADERSHIP",
    "DigestRecord",
    "IsoWeek",
    "LeadershipDigest",
    "Outcome",
    "OwnerDigest",
    "Planned",
    "SesTransport",
    "SmtpTransport",
    "Transport",
    "digest_log",
    "last_complete_week",
    "leadership_digest",
    "open_transport",
    "owner_digest",
    "plan_digests",
    "preview",
    "render_digest",
    "send_digests",
    "write_previews",
]
