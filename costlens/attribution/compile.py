# ruff: noqa: S608  (generated SQL: allowlisted quoted identifiers and bound $-placeholders only)
"""Rules → SQL: the one place attribution SQL is generated (printable with ``render``).

The query reads ``line_items`` once, in four steps:

1. ``daily`` — line items summed per day and ``line_key`` (``costlens.line_keys``: ingest numbers
   each distinct description of a line once, so no tag is read per line here);
2. ``keys`` — the line keys of the periods from ``line_keys``, with the tags the rules read as
   columns ``"tag:<key>"``, on which the rules are evaluated once per key (about one per
   resource): ``matched`` (one boolean per rule, ``_m1``..., and the first matching split),
   ``decided`` (per dimension, the first matching rule that yields a value wins; the owner comes
   from the first matching rule that sets the owner, or sets a registered microservice) and
   ``resolved`` (the values);
3. the direct rows: ``daily`` joined to its resolved key, with ``rule`` and ``basis`` naming the
   rule that decided the owner;
4. the splits: ``split_rows`` (the daily rows whose key a split selects, ``_split`` > 0) and
   ``direct_totals`` (each owner's direct cost per period, for proportional weights) feed
   ``shared.split_ctes``, whose shares are appended with the rule-set version.

``daily`` and ``resolved`` are read more than once, so they are ``MATERIALIZED`` (DuckDB would
otherwise inline them and compute them again for every reader).

Values are bound parameters (``$p0``...); identifiers are allowlisted and quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from costlens.attribution._sql import Bind, quote_ident, render, tag_column
from costlens.attribution.actions import alias_key
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import Rule, RuleSet
from costlens.attribution.shared import split_ctes
from costlens.errors import RuleError
from costlens.line_keys import KEY_COLUMNS
from costlens.schema import ALLOCATION_BASE, COST_COLUMNS, SUM_MONEY, Column, column_names

__all__ = [
    "CompiledQuery",
    "RuleValues",
    "allocation_columns",
    "compile_attribution",
    "daily_sql",
    "hourly_sql",
    "source_columns",
]

_GROUP_COLUMNS = tuple(
    c for c in column_names(ALLOCATION_BASE) if c not in ("microservice", "owner")
)
"""Allocation columns copied from line items (``usage_date`` is derived)."""


@dataclass(frozen=True)
class CompiledQuery:
    """A SELECT and its bound parameters."""

    sql: str
    params: dict[str, Any]
    marker: str = "$"
    """How the SQL refers to a parameter: DuckDB's ``$p0``, Spark's ``:p0``."""

    def render(self) -> str:
        """The SQL with its parameters listed, for a human."""
        return render(self.sql, self.params, self.marker)


def allocation_columns(rules: RuleSet) -> tuple[Column, ...]:
    """Columns of ``allocations`` for ``rules``, in order."""
    extra = tuple(Column(d, "VARCHAR", f"Rules dimension {d}.") for d in rules.dimensions)
    return (
        *ALLOCATION_BASE,
        *extra,
        Column("allocation", "VARCHAR", "direct, or shared when a split produced the row."),
        Column("rule", "VARCHAR", "The rule that decided the owner, the split, or 'default'."),
        Column("basis", "VARCHAR", "tag, rule (account/service/... rules), split or unallocated."),
        Column("rule_version", "VARCHAR", "Rule-set version id (see the state database)."),
        *(Column(c, SUM_MONEY, f"Sum of line_items.{c}.") for c in COST_COLUMNS),
        Column("usage_amount", "DOUBLE", "Sum of usage_amount (shares: split by weight)."),
        Column("line_key", "UBIGINT", "The line key the row sums (its attributes: line_keys)."),
    )


def source_columns(rules: RuleSet) -> tuple[str, ...]:
    """Non-allocation ``line_items`` columns the rules read, sorted."""
    return tuple(sorted(rules.columns() - set(_GROUP_COLUMNS)))


def _periods(bind: Bind, periods: Sequence[date] | None) -> str:
    if periods is None:
        return ""
    return f"WHERE list_contains(CAST({bind(list(periods))} AS DATE[]), billing_period)"


def daily_sql(bind: Bind, periods: Sequence[date] | None) -> str:
    """The ``daily`` step: line items summed per day and line key (the one pass over them)."""
    sums = [f"SUM({quote_ident(c)}) AS {quote_ident(c)}" for c in (*COST_COLUMNS, "usage_amount")]
    return (
        "SELECT CAST(COALESCE(usage_start, billing_period) AS DATE) AS usage_date, line_key,\n"
        f"    {', '.join(sums)}\n  FROM line_items {_periods(bind, periods)}\n  GROUP BY 1, 2"
    )


_USAGE_TIME = "COALESCE(usage_start, billing_period)"
"""When a line item was used (a line without a usage start: its billing period's first hour)."""


def hourly_sql(bind: Bind, periods: Sequence[date] | None, since: datetime) -> str:
    """The ``hourly`` step: the line items used from ``since`` on, summed per hour and line key."""
    sums = [f"SUM({quote_ident(c)}) AS {quote_ident(c)}" for c in (*COST_COLUMNS, "usage_amount")]
    where = _periods(bind, periods) or "WHERE TRUE"
    return (
        f"SELECT date_trunc('hour', {_USAGE_TIME}) AS usage_hour,\n"
        f"    CAST({_USAGE_TIME} AS DATE) AS usage_date, line_key, {', '.join(sums)}\n"
        f"  FROM line_items {where} AND {_USAGE_TIME} >= CAST({bind(since)} AS TIMESTAMP)\n"
        "  GROUP BY 1, 2, 3"
    )


def _keys(rules: RuleSet, bind: Bind, periods: Sequence[date] | None) -> str:
    unknown = rules.columns() - set(KEY_COLUMNS)
    if unknown:  # the rule parser only produces key columns; this guards against drift
        raise RuleError(
            f"rules read column(s) {', '.join(sorted(unknown))}, which line keys do not hold",
            where="rules",
            fix="this is a bug in costlens: please report it with `costlens rules check --sql`",
        )
    cols = [
        "line_key",
        *(quote_ident(c) for c in _GROUP_COLUMNS if c != "usage_date"),
        *(quote_ident(c) for c in source_columns(rules)),
        *(f"tags[{bind(k)}] AS {tag_column(k)}" for k in sorted(rules.tag_keys())),
    ]
    return f"SELECT {', '.join(cols)}\n  FROM line_keys {_periods(bind, periods)}"


class RuleValues:
    """Per-rule value SQL for each dimension, with the registry maps bound once."""

    def __init__(self, rules: RuleSet, bind: Bind) -> None:
        self.rules, self.bind = rules, bind
        reg = rules.owners
        ms_alias, owner_alias = reg.microservice_aliases(), reg.owner_aliases()
        self.ms_alias = f"map({bind(list(ms_alias))}, {bind(list(ms_alias.values()))})"
        self.owner_alias = f"map({bind(list(owner_alias))}, {bind(list(owner_alias.values()))})"
        ms_owner = {m.id: m.owner for m in reg.microservices.values()}
        self.ms_owner = f"map({bind(list(ms_owner))}, {bind(list(ms_owner.values()))})"
        cost_centers = {o.id: o.cost_center for o in reg.owners.values() if o.cost_center}
        self.cost_center = f"map({bind(list(cost_centers))}, {bind(list(cost_centers.values()))})"
        self.spellings: dict[str, str] = {}  # one spelling per cost center: owners.yaml's first
        for center in cost_centers.values():
            self.spellings.setdefault(alias_key(center), center)
        spelled = self.spellings
        self.cc_spelling = f"map({bind(list(spelled))}, {bind(list(spelled.values()))})"
        self.names = bind(["default", *(r.name for r in rules.rules)])
        self.bases = bind(["unallocated", *(r.basis for r in rules.rules)])

    def value(self, rule: Rule, dim: str) -> str | None:
        """SQL of the value ``rule`` gives ``dim`` (NULL when it yields none), or None."""
        template = rule.sets.get(dim)
        if template is None:
            return None
        if template.is_literal and dim == "cost_center":
            literal = template.literal
            return self.bind(self.spellings.get(alias_key(literal), literal))
        raw = template.sql(self.bind, rule.normalize)
        if template.is_literal:
            return raw
        if dim == "microservice":
            return f"COALESCE({self.ms_alias}[lower(trim({raw}))], {raw})"
        if dim == "owner":
            return f"{self.owner_alias}[lower(trim({raw}))]"
        if dim == "cost_center":  # an inherited cost center takes its spelling in owners.yaml
            return f"COALESCE({self.cc_spelling}[lower(trim({raw}))], {raw})"
        return raw

    def owner(self, rule: Rule) -> str | None:
        """SQL of the owner ``rule`` decides: set directly, or its microservice's owner."""
        direct = self.value(rule, "owner")
        if direct is not None:
            return direct
        template = rule.sets.get("microservice")
        if template is not None and template.is_literal:  # resolved now, not per row
            owner = self.rules.owners.owner_of(template.literal)
            return None if owner is None else self.bind(owner)
        ms = self.value(rule, "microservice")
        return None if ms is None else f"{self.ms_owner}[{ms}]"


def _first(rules: RuleSet, values: dict[tuple[int, str], str], dim: str) -> str:
    arms = [
        f"WHEN _m{i} AND ({values[(i, dim)]}) IS NOT NULL THEN {i}"
        for i, _ in enumerate(rules.rules, start=1)
        if (i, dim) in values
    ]
    return f"CASE {' '.join(arms)} ELSE 0 END" if arms else "0"


def _pick(rules: RuleSet, values: dict[tuple[int, str], str], dim: str, default: str) -> str:
    arms = [
        f"WHEN {i} THEN {values[(i, dim)]}"
        for i, _ in enumerate(rules.rules, start=1)
        if (i, dim) in values
    ]
    index = quote_ident(f"_r_{dim}")
    return f"CASE {index} {' '.join(arms)} ELSE {default} END" if arms else default


def compile_attribution(
    rules: RuleSet,
    *,
    periods: Sequence[date] | None = None,
    rule_version: str | None = None,
    hourly_since: datetime | None = None,
) -> CompiledQuery:
    """The SELECT producing the ``allocations`` rows of ``periods`` (all when None).

    With ``hourly_since``, the rows are hourly instead, from that hour on (a ``usage_hour``
    column last): the same rules and splits on the same keys, and the splits' weights those of
    the whole periods, so an hour's shares are the daily allocation's shares of that hour.
    """
    bind = Bind()
    v = RuleValues(rules, bind)
    matches = [
        f"{r.match.sql(bind) if r.match else 'TRUE'} AS _m{i}"
        for i, r in enumerate(rules.rules, start=1)
    ]
    split_arms = [f"WHEN {s.match.sql(bind)} THEN {i}" for i, s in enumerate(rules.splits, 1)]
    split = f"CASE {' '.join(split_arms)} ELSE 0 END" if split_arms else "0"
    values: dict[tuple[int, str], str] = {}
    for i, rule in enumerate(rules.rules, start=1):
        for dim in rules.all_dimensions():
            sql = v.owner(rule) if dim == "owner" else v.value(rule, dim)
            if sql is not None:
                values[(i, dim)] = sql
    firsts = [
        f"{_first(rules, values, d)} AS {quote_ident('_r_' + d)}" for d in rules.all_dimensions()
    ]
    unallocated = bind(UNALLOCATED)
    dims = [
        f"{_pick(rules, values, 'microservice', unallocated)} AS microservice",
        f"{_pick(rules, values, 'owner', unallocated)} AS owner",
    ]
    for d in rules.dimensions:
        default = bind(rules.defaults[d]) if d in rules.defaults else "NULL"
        if d == "cost_center":
            owner = _pick(rules, values, "owner", unallocated)
            default = f"COALESCE({v.cost_center}[{owner}], {default})"
        dims.append(f"{_pick(rules, values, d, default)} AS {quote_ident(d)}")
    base = [quote_ident(c) for c in _GROUP_COLUMNS]
    costs = [quote_ident(c) for c in (*COST_COLUMNS, "usage_amount")]
    version = bind(rule_version or rules.version)
    dim_cols = ", ".join(f"k.{quote_ident(d)}" for d in rules.all_dimensions())
    key_base = [c for c in base if c != '"usage_date"']
    rows = "daily" if hourly_since is None else "hourly"
    hour, hour_id = ("", ()) if hourly_since is None else (", usage_hour", ("usage_hour",))
    from_daily = f"FROM {rows} d JOIN resolved k USING (line_key)"
    direct = (
        f"SELECT d.usage_date, {', '.join('k.' + c for c in key_base)}, {dim_cols},"
        f" 'direct' AS allocation, k.rule, k.basis, {version} AS rule_version,"
        f" {', '.join('d.' + c for c in costs)}, d.line_key{hour and ', d.usage_hour'}\n"
        f"  {from_daily} WHERE k._split = 0"
    )
    sums = ", ".join(f"SUM({c}) AS {c}" for c in costs)
    ctes = [
        *(  # hourly rows read the daily ones only for the splits' weights (whole periods)
            [f"daily AS MATERIALIZED (\n  {daily_sql(bind, periods)}\n)"]
            if hourly_since is None or rules.splits
            else []
        ),
        *(
            [f"hourly AS MATERIALIZED (\n  {hourly_sql(bind, periods, hourly_since)}\n)"]
            if hourly_since is not None
            else []
        ),
        f"keys AS (\n  {_keys(rules, bind, periods)}\n)",
        f"matched AS (\n  SELECT *, {split} AS _split,\n    "
        f"{', '.join(matches) or 'TRUE AS _m0'}\n  FROM keys\n)",
        f"decided AS (\n  SELECT *, {', '.join(firsts)}\n  FROM matched\n)",
        f"resolved AS MATERIALIZED (\n  SELECT line_key, {', '.join(key_base)}, _split,"
        f" {v.names}[_r_owner + 1] AS rule, {v.bases}[_r_owner + 1] AS basis,"
        f"\n    {', '.join(dims)}\n  FROM decided\n)",
    ]
    body = direct
    if rules.splits:
        ctes += [
            f"split_rows AS (\n  SELECT d.usage_date{hour and ', d.usage_hour'}, d.line_key, "
            f"{', '.join('k.' + c for c in key_base)}, {', '.join('d.' + c for c in costs)},"
            f" k._split, {dim_cols}\n  {from_daily} WHERE k._split > 0\n)",
            f"direct_totals AS (\n  SELECT k.billing_period, k.owner, {sums}\n"
            f"  FROM (SELECT line_key, {sums} FROM daily GROUP BY line_key) d\n"
            f"  JOIN resolved k USING (line_key) WHERE k._split = 0 GROUP BY 1, 2\n)",
            split_ctes(
                rules,
                bind,
                "split_rows",
                (*column_names(ALLOCATION_BASE), *rules.dimensions, "line_key", *hour_id),
                row_id=(*(hour_id or ("usage_date",)), "line_key"),
            ),
        ]
        shared_dims = []
        for d in rules.all_dimensions():
            if d == "microservice":
                labels = ", ".join(
                    bind(s.microservice) if s.microservice else "NULL" for s in rules.splits
                )
                shared_dims.append(f"COALESCE([{labels}][_split], microservice) AS microservice")
            elif d == "cost_center":  # a share takes its owner's cost center, else the default
                default = bind(rules.defaults[d]) if d in rules.defaults else "NULL"
                shared_dims.append(f"COALESCE({v.cost_center}[owner], {default}) AS cost_center")
            else:
                shared_dims.append(quote_ident(d))
        split_names = bind([s.name for s in rules.splits])
        body += (
            f"\nUNION ALL\nSELECT {', '.join(base[:11])}, {', '.join(shared_dims)},"
            f" 'shared' AS allocation,\n    {split_names}[_split] AS rule,"
            f" CASE WHEN owner = {unallocated} THEN 'unallocated' ELSE 'split' END AS basis,"
            f" {version} AS rule_version, {', '.join(costs)}, line_key{hour}\n  FROM split_shares"
        )
    # Generated from allowlisted, quoted identifiers and $-placeholders only; values are bound.
    sql = "WITH " + ",\n".join(ctes) + "\n" + body
    return CompiledQuery(sql, bind.used(sql))
