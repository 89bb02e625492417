"""``costlens digest``: the weekly email per owner (and the leadership ranking), previewed,
written as files or sent over SMTP or SES, each send logged so a week goes out once.

Exit codes: 0 done (or nothing left to send), 1 a bad argument (one line), 4 a digest was not
delivered to every recipient (each owner is named with the server's answer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, err_console, record_json, settings
from costlens.config import Settings

__all__ = ["DELIVERY_FAILED", "deliver_week", "exit_if_failed", "register"]

DELIVERY_FAILED = 4
"""Exit code when a recipient was refused or a server failed (the others were still sent)."""


def deliver_week(
    cfg: Settings,
    *,
    week: str | None = None,
    owner: str | None = None,
    send: bool = False,
    resend: bool = False,
    dry_run: Path | None = None,
) -> dict[str, Any]:
    """Plan (and with ``send`` deliver, with ``dry_run`` write) a week's digests; a summary."""
    from costlens import queries
    from costlens.attribution import load_owners
    from costlens.errors import ReportError
    from reports.digest import (
        IsoWeek,
        last_complete_week,
        open_transport,
        plan_digests,
        send_digests,
        write_previews,
    )
    from reports.digest.log import digest_log

    registry = load_owners(cfg.owners)
    with queries.open_snapshot(cfg.data_dir) as snap:
        chosen = IsoWeek.parse(week) if week else last_complete_week(snap.info.last_date)
        if chosen is None:
            raise ReportError(
                "the snapshot has no complete week", where="--week", fix="run `costlens sync`"
            )
        planned = plan_digests(cfg, snap, registry, chosen, owner=owner)
    result: dict[str, Any] = {"week": str(chosen), "digests": []}
    if dry_run is not None:
        result["files"] = [str(f) for f in write_previews(cfg, planned, chosen, dry_run)]
    if send:
        # The edge reads the secret; it goes to the transport and nowhere else.
        password = os.environ.get(cfg.mail.password_env) if cfg.mail.username else None
        transport = open_transport(cfg.mail, password)
        try:
            outcomes = send_digests(cfg, planned, chosen, transport, resend=resend)
        finally:
            transport.close()
        result["digests"] = [o.as_json() for o in outcomes]
    else:
        log = {r.owner: r for r in digest_log(cfg.state_database_url, week=str(chosen))}
        result["digests"] = [
            {
                "owner": p.owner,
                "recipients": list(p.recipients),
                "subject": p.subject,
                "status": "dry-run" if dry_run else "planned",
                "already_sent": p.owner in log and log[p.owner].status != "failed",
            }
            for p in planned
        ]
    return result


def register(app: typer.Typer) -> None:
    """Add ``digest`` to the ``costlens`` command."""

    @app.command("digest")
    def digest_command(
        ctx: typer.Context,
        week: Annotated[
            str | None,
            typer.Option("--week", help="ISO week YYYY-Www (default: the data's last complete)."),
        ] = None,
        owner: Annotated[
            str | None, typer.Option("--owner", help="Only this owner id ('*': leadership).")
        ] = None,
        dry_run: Annotated[
            Path | None,
            typer.Option("--dry-run", help="Write one .eml and one .html per digest to DIR."),
        ] = None,
        send: Annotated[bool, typer.Option("--send", help="Send through [mail].")] = False,
        resend: Annotated[
            bool, typer.Option("--resend", help="Send again digests already sent this week.")
        ] = False,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """The weekly digest per owner with an email in owners.yaml, and the leadership ranking.

        Without --send or --dry-run it prints what it would send to whom. A week already sent
        is not sent again unless --resend (a new Message-ID, with References to the first).
        """
        from costlens.errors import ReportError

        if resend and not send:
            raise ReportError("--resend needs --send", where="--resend", fix="add --send")
        result = deliver_week(
            settings(ctx), week=week, owner=owner, send=send, resend=resend, dry_run=dry_run
        )
        if json_output:
            emit_json(result)
        else:
            for d in result["digests"]:
                to = ", ".join(d["recipients"])
                extra = f": {d['subject']}" if "subject" in d else ""
                if d.get("already_sent"):
                    extra += " (already sent)"
                console.print(f"{result['week']} {d['owner']} -> {to} [{d['status']}]{extra}")
            for f in result.get("files", []):
                console.print(f"written {f}")
        exit_if_failed(result)


def exit_if_failed(result: dict[str, Any]) -> None:
    """Name each owner whose digest failed, with the server's answer, and exit 4."""
    failed = [d for d in result["digests"] if d["status"] in ("failed", "partial")]
    for d in failed:
        err_console.print(
            f"error: digest {result['week']} to owner {d['owner']} "
            f"({', '.join(d['recipients'])}) {d['status']}: {d['answer']}. Fix: correct the "
            "address or the [mail] settings, then run `costlens digest --send` again."
        )
    if failed:
        raise typer.Exit(DELIVERY_FAILED)
