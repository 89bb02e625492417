"""``costlens scorecard``: one owner's, microservice's or account's efficiency scorecard.

Reads the published snapshot (``costlens.queries``): each KPI against its goal with its
eligible spend and savings, the overall grade and its change, and the top actions in dollars.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, parse_month, record_json, settings
from costlens.errors import QueryError

__all__ = ["register", "scorecard_payload"]


def _money(value: Any) -> str:
    return "n/a" if value is None else f"${Decimal(value).quantize(Decimal('0.01')):,}"


def _share(row: dict[str, Any]) -> str:
    value = row["value"]
    if value is None:
        return "n/a"
    if row["unit"] == "share" or row["unit"] == "growth":
        return f"{value:.1%}"
    if row["unit"] == "ratio":
        return f"{value:.0%} of budget"
    if row["unit"] == "count":
        return f"{value:.0f}"
    return f"${value:,.4f} per {row['detail']}"


def scorecard_payload(snap: Any, scope: str, scope_id: str, period: Any = None) -> dict[str, Any]:
    """The scorecard as the CLI's ``--json`` prints it (QueryError when there is none)."""
    from costlens import queries
    from costlens.scorecards.registry import kpi

    card = queries.scorecard(snap, scope, scope_id, period=period)  # type: ignore[arg-type]
    if card is None:
        periods = queries.scorecard_periods(snap)
        fix = "check the name, or run `costlens sync` to build scorecards"
        if periods:
            fix = f"check the name and the period (scorecards exist for {periods[-1]:%Y-%m} to "
            fix += f"{periods[0]:%Y-%m})"
        raise QueryError(f"no scorecard for {scope} {scope_id!r}", fix=fix)
    kpis = []
    for row in card.pop("kpis"):
        kpis.append({
            "name": row["kpi"], "title": kpi(row["kpi"]).title, "detail": row["detail"],
            "value": row["value"],
            "goal": row["goal"], "direction": row["direction"], "unit": row["unit"],
            "eligible_spend": row["eligible_spend"], "potential_savings": row["potential_savings"],
            "savings_at_goal": row["savings_at_goal"], "grade": row["grade"],
        })  # fmt: skip
    card["kpis"] = kpis
    owner = str(card["owner"]) if scope != "account" else None
    card["top_actions"] = (
        queries.top_actions(snap, owner, 3, period=card["billing_period"]) if owner else []
    )
    if scope == "microservice" and owner:
        card["top_actions"] = [
            a for a in queries.top_actions(snap, owner, 1000, period=card["billing_period"])
            if a["microservice"] == scope_id
        ][:3]  # fmt: skip
    return card


def register(app: typer.Typer) -> None:
    """Add ``scorecard`` to the ``costlens`` command."""

    @app.command("scorecard")
    def scorecard_command(
        ctx: typer.Context,
        owner: Annotated[str | None, typer.Option("--owner", help="An owner id.")] = None,
        microservice: Annotated[
            str | None, typer.Option("--microservice", help="A microservice.")
        ] = None,
        account: Annotated[str | None, typer.Option("--account", help="An account id.")] = None,
        period: Annotated[
            str | None, typer.Option("--period", help="YYYY-MM (default: the latest).")
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print the scorecard as JSON.", callback=record_json)
        ] = False,
    ) -> None:
        """Print an efficiency scorecard: KPIs against goals, grades, savings, top actions.

        Without --owner, --microservice or --account: every owner ranked by savings left.
        """
        from costlens import queries

        chosen = [(s, v) for s, v in (("owner", owner), ("microservice", microservice),
                                       ("account", account)) if v is not None]  # fmt: skip
        if len(chosen) > 1:
            raise QueryError(
                "give one of --owner, --microservice, --account", where="scorecard",
                fix="ask for one scorecard at a time",
            )  # fmt: skip
        month = None if period is None else parse_month(period, "--period", QueryError)
        with queries.open_snapshot(settings(ctx).data_dir) as snap:
            if not chosen:
                ranking = queries.owner_ranking(snap, period=month)
                rows = ranking.to_dict("records")
                if json_output:
                    emit_json({"ranking": rows})
                    return
                for r in rows:
                    console.print(
                        f"{r['rank']:>2}. {r['scope_id']:<16} grade {r['grade'] or 'n/a'}"
                        f" (was {r['previous_grade'] or 'n/a'}), savings left "
                        f"{_money(r['potential_savings'])}/month of {_money(r['spend'])}"
                    )
                return
            scope, scope_id = chosen[0]
            card = scorecard_payload(snap, scope, scope_id, month)
        if json_output:
            emit_json(card)
            return
        _print(card)


def _goal(unit: str, goal: Decimal) -> str:
    if unit in ("share", "growth"):
        return f"{float(goal):.0%}" if unit == "share" else f"<= {float(goal):+.0%}"
    if unit == "ratio":
        return f"<= {float(goal):.0%}"
    if unit == "count":
        return f"<= {goal:.0f}"
    return "no rise"


def _print(card: dict[str, Any]) -> None:
    console.print(
        f"{card['scope']} {card['scope_id']}, {card['billing_period']:%Y-%m}: grade "
        f"{card['grade'] or 'n/a'} (was {card['previous_grade'] or 'n/a'}); spend "
        f"{_money(card['spend'])}, potential savings {_money(card['potential_savings'])}/month "
        "(amortized; each resource counted once)"
    )
    for k in card["kpis"]:
        goal_text = _goal(k["unit"], k["goal"])
        console.print(
            f"  {k['grade'] or '-':<2} {k['title']:<32} {_share(k):>18}  goal {goal_text:<6}"
            f" eligible {_money(k['eligible_spend']):>12}  savings "
            f"{_money(k['potential_savings'])}"
        )
    for a in card["top_actions"]:
        console.print(f"  -> {a['text']}")
