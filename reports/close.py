"""``costlens close`` / ``reopen``: finance freezes a month, or opens it again with a reason.

Under ``sync.lock`` (no sync interleaves), with the warehouse's writer lock: the close or the
reopen runs in one warehouse transaction (a reopen also re-attributes the month right away, in
the same transaction), the event is logged in the state database (``costlens.state.PeriodEvent``)
and the refresh publishes a snapshot that reflects it. The warehouse logic is
``costlens.closing``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from costlens.closing import CloseError, close_period, closed_periods, reopen_period
from costlens.config import Settings
from costlens.state import current_actor, record_period_event
from costlens.sync import sync_lock

__all__ = ["close_month", "reopen_month"]


def _refresh(cfg: Settings) -> dict[str, Any]:
    from costlens.refresh import refresh
    from costlens.warehouse import open_warehouse

    with open_warehouse(cfg.data_dir) as wh:
        return refresh(wh, cfg).as_dict()


def close_month(cfg: Settings, period: date, *, actor: str | None = None) -> dict[str, Any]:
    """Close ``period``: freeze its allocations, log the close, refresh. Returns the summary."""
    from costlens.attribution.versions import ensure_state_database
    from costlens.warehouse import open_warehouse

    who = current_actor() if actor is None else actor
    with sync_lock(cfg.data_dir):
        ensure_state_database(cfg.state_database_url)  # before anything is written
        with open_warehouse(cfg.data_dir) as wh, wh.transaction() as con:
            closed = close_period(con, period, who)
        record_period_event(
            cfg.state_database_url,
            billing_period=period,
            action="close",
            actor=who,
            totals=closed.totals,
            at=closed.closed_at,
        )
        refreshed = _refresh(cfg)
    return {"closed": closed.as_dict(), "refresh": refreshed}


def reopen_month(
    cfg: Settings, period: date, reason: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Reopen ``period`` for ``reason`` (required): drop its close and adjustments, attribute it
    again with the current rules, log the reopen, refresh. Returns the summary."""
    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.attribution.versions import ensure_state_database, record_rule_set_version
    from costlens.warehouse import open_warehouse

    if not reason.strip():
        raise CloseError(
            "a reopen needs a reason",
            where="--reason",
            fix=f'say why, e.g. costlens reopen {period:%Y-%m} --reason "late credit from AWS"',
        )
    who = current_actor() if actor is None else actor
    rules = load_rules(cfg.rules, load_owners(cfg.owners))
    with sync_lock(cfg.data_dir):
        ensure_state_database(cfg.state_database_url)
        with open_warehouse(cfg.data_dir) as wh:
            with wh.transaction() as con:
                frozen = closed_periods(con).get(period)
                dropped = reopen_period(con, period)
            result = attribute(wh, rules, periods=[period])  # its own transaction
            totals = frozen.totals if frozen is not None else {}
        record_rule_set_version(cfg.state_database_url, rules, periods=[period], rows=result.rows)
        record_period_event(
            cfg.state_database_url,
            billing_period=period,
            action="reopen",
            reason=reason.strip(),
            actor=who,
            totals=totals,
        )
        refreshed = _refresh(cfg)
    return {
        "reopened": str(period),
        "reason": reason.strip(),
        "actor": who,
        "dropped_adjustments": [a.as_dict() for a in dropped],
        "attribute": {
            "rule_version": result.rule_version,
            "periods": [str(p) for p in result.periods],
            "rows": result.rows,
            "totals": {c: str(v) for c, v in result.totals.items()},
        },
        "refresh": refreshed,
    }
