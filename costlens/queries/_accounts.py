"""The account question of ``costlens.queries``: each usage account's name, as the bill names it,
so that a screen shows "Payments prod (210987654301)" rather than a bare id."""

from __future__ import annotations

from costlens.serving.snapshot import Snapshot
from costlens.sql import has_table

__all__ = ["account_names"]

_ACCOUNT_NAMES_SQL = "SELECT account_id, account_name FROM account_names ORDER BY account_id"


def account_names(snap: Snapshot) -> dict[str, str]:
    """``{account_id: account_name}`` for every usage and payer account the bill names (the
    latest name a billing period gave it); ``{}`` for a snapshot built before names were kept
    (layout ``serving-6`` and older) or a bill without names."""
    if not has_table(snap.con, "account_names"):
        return {}
    rows = snap.con.execute(_ACCOUNT_NAMES_SQL).fetchall()
    return {str(a): str(n) for a, n in rows if n}
