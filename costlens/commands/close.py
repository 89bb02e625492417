"""``costlens close`` and ``costlens reopen``: finance's period close (``reports.close``).

A closed month's allocations are frozen; a later restatement becomes adjustments
(``costlens.closing``). A reopen needs a reason, logged in the state database with the actor.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from costlens.closing import CloseError
from costlens.commands._common import console, emit_json, parse_month, record_json, settings

__all__ = ["register"]


def _money(value: Any) -> str:
    from decimal import Decimal

    return f"${Decimal(value).quantize(Decimal('0.01')):,}"


def register(app: typer.Typer) -> None:
    """Add ``close`` and ``reopen`` to the ``costlens`` command."""

    @app.command("close")
    def close_command(
        ctx: typer.Context,
        month: Annotated[str, typer.Argument(help="The billing month to close, YYYY-MM.")],
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """Close a billing month: freeze its allocations; later restatements become adjustments."""
        from reports.close import close_month

        period = parse_month(month, "MONTH", CloseError)
        summary = close_month(settings(ctx), period)
        if json_output:
            emit_json(summary)
            return
        closed = summary["closed"]
        console.print(
            f"closed {period:%Y-%m} (rules {closed['rule_version']}, by "
            f"{closed['closed_by'] or 'unknown'}): unblended "
            f"{_money(closed['totals']['unblended_cost'])} frozen"
        )

    @app.command("reopen")
    def reopen_command(
        ctx: typer.Context,
        month: Annotated[str, typer.Argument(help="The closed billing month, YYYY-MM.")],
        reason: Annotated[
            str | None, typer.Option("--reason", help="Why it is reopened (required, logged).")
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """Reopen a closed month (with a reason): drop its adjustments and attribute it again."""
        from reports.close import reopen_month

        period = parse_month(month, "MONTH", CloseError)
        if reason is None or not reason.strip():
            raise CloseError(
                "a reopen needs a reason",
                where="--reason",
                fix=f'say why, e.g. costlens reopen {period:%Y-%m} --reason "late credit from AWS"',
            )
        summary = reopen_month(settings(ctx), period, reason)
        if json_output:
            emit_json(summary)
            return
        dropped = len(summary["dropped_adjustments"])
        console.print(
            f"reopened {period:%Y-%m} ({summary['reason']}): dropped {dropped} adjustment(s), "
            f"re-attributed {summary['attribute']['rows']:,} allocation rows"
        )
