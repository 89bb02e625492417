"""The coverage step of the refresh: the deliveries behind the snapshot, the costliest resources
no rule attributed, and how each period's cost was attributed (direct, shared, unallocated)."""

from __future__ import annotations

from typing import Any

from costlens.refresh.context import BuildContext, Step, last_period
from costlens.schema import COST_TYPES
from costlens.serving.tables import (
    ACCOUNT_NAMES_SQL,
    COVERAGE_SQL,
    DELIVERIES_SQL,
    NO_ACCOUNT_NAMES_SQL,
    NO_DELIVERIES_SQL,
    SHARE_SQL,
    UNTAGGED_SQL,
)
from costlens.sql import has_table, quote

__all__ = ["STEP", "untagged_kept", "write"]


def untagged_kept(ctx: BuildContext) -> bool:
    """The last period's unallocated resources are unchanged when that period is kept."""
    return bool(ctx.reused) and last_period(ctx.periods) in ctx.reused


def write(ctx: BuildContext) -> dict[str, Any]:
    """Write ``snapshot_deliveries``, ``account_names``, ``untagged_resources`` (unless kept)
    and ``allocation_coverage`` with each cost type's share of its period."""
    con = ctx.con
    con.execute(DELIVERIES_SQL if has_table(con, "deliveries") else NO_DELIVERIES_SQL)
    con.execute(ACCOUNT_NAMES_SQL if has_table(con, "line_items") else NO_ACCOUNT_NAMES_SQL)
    if not untagged_kept(ctx):
        con.execute(UNTAGGED_SQL)
    shares = ", ".join(
        SHARE_SQL.format(charges=quote(f"{t}_charges"), share=quote(f"{t}_share"))
        for t in COST_TYPES
    )
    con.execute(COVERAGE_SQL.format(shares=shares))
    return {}


STEP = Step(
    "coverage",
    write,
    tables=("snapshot_deliveries", "account_names", "untagged_resources", "allocation_coverage"),
)
