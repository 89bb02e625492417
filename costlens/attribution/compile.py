# ruff: noqa: S608  (generated SQL: allowlisted quoted identifiers and bound $-placeholders only)
"""Rules → SQL: the one place attribution SQL is generated (printable with ``render``).

The query reads ``line_items`` once and has four steps, each a CTE:

1. ``src`` — line items summed to daily grain over the allocation columns plus every other column
   and tag the rules read (tags become columns ``"tag:<key>"``);
2. ``keys`` — the distinct combinations of the inputs the rules read (far fewer than the rows:
   about one per resource), on which the rules are evaluated once: ``matched`` (one boolean per
   rule, ``_m1``..., and the first matching split), ``decided`` (per dimension, the first matching
   rule that yields a value wins; the owner comes from the first matching rule that sets the
   owner, or sets a registered microservice) and ``resolved`` (the values);
3. ``attributed`` — the daily rows joined to their resolved key; ``rule`` and ``basis`` name the
   rule that decided the owner; ``_split`` is the first matching split;
4. the direct rows plus the shares of ``shared.split_ctes``, with the rule-set version.

``src``, ``resolved`` and ``attributed`` are read more than once, so they are ``MATERIALIZED``
(DuckDB would otherwise inline them and compute them again for every reader).

Values are bound parameters (``$p0``...); identifiers are allowlisted and quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from costlens.attribution._sql import Bind, quote_ident, render, tag_column
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import Rule, RuleSet
from costlens.attribution.shared import split_ctes
from costlens.schema import ALLOCATION_BASE, COST_COLUMNS, SUM_MONEY, Column, column_names

__all__ = [
    "CompiledQuery",
    "RuleValues",
    "allocation_columns",
    "compile_attribution",
    "source_columns",
    "source_sql",
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

    def render(self) -> str:
        """The SQL with its parameters listed, for a human."""
        return render(self.sql, self.params)


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
    )


def source_columns(rules: RuleSet) -> tuple[str, ...]:
    """Non-allocation ``line_items`` columns the rules read, sorted."""
    return tuple(sorted(rules.columns() - set(_GROUP_COLUMNS)))


def source_sql(
    rules: RuleSet, bind: Bind, periods: Sequence[date] | None, table: str = "line_items"
) -> str:
    """The ``src`` step: line items at daily grain with the columns and tags the rules read."""
    return _src(rules, bind, periods, table)


def _src(rules: RuleSet, bind: Bind, periods: Sequence[date] | None, table: str) -> str:
    cols = [
        "CAST(COALESCE(usage_start, billing_period) AS DATE) AS usage_date",
        *(quote_ident(c) for c in _GROUP_COLUMNS if c != "usage_date"),
        *(quote_ident(c) for c in source_columns(rules)),
        *(f"tags[{bind(k)}] AS {tag_column(k)}" for k in sorted(rules.tag_keys())),
    ]
    sums = [f"SUM({quote_ident(c)}) AS {quote_ident(c)}" for c in (*COST_COLUMNS, "usage_amount")]
    where = ""
    if periods is not None:
        where = f"WHERE list_contains(CAST({bind(list(periods))} AS DATE[]), billing_period)"
    return (
        f"SELECT {', '.join(cols)},\n    {', '.join(sums)}\n  FROM {quote_ident(table)} {where}\n"
        f"  GROUP BY ALL"
    )


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
        cost_centers = {o.id: o.cost_center for o in reg.owners.values()}
        self.cost_center = f"map({bind(list(cost_centers))}, {bind(list(cost_centers.values()))})"
        self.names = bind(["default", *(r.name for r in rules.rules)])
        self.bases = bind(["unallocated", *(r.basis for r in rules.rules)])

    def value(self, rule: Rule, dim: str) -> str | None:
        """SQL of the value ``rule`` gives ``dim`` (NULL when it yields none), or None."""
        template = rule.sets.get(dim)
        if template is None:
            return None
        raw = template.sql(self.bind, rule.normalize)
        if template.is_literal:
            return raw
        if dim == "microservice":
            return f"COALESCE({self.ms_alias}[lower(trim({raw}))], {raw})"
        if dim == "owner":
            return f"{self.owner_alias}[lower(trim({raw}))]"
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
    table: str = "line_items",
) -> CompiledQuery:
    """The SELECT producing the ``allocations`` rows of ``periods`` (all when None)."""
    bind = Bind()
    v = RuleValues(rules, bind)
    src = _src(rules, bind, periods, table)
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
    dim_names = [quote_ident(d) for d in rules.all_dimensions()]
    out_cols = [*base[:11], *dim_names]
    direct = (
        f"SELECT {', '.join(out_cols)}, 'direct' AS allocation,\n"
        f"    {v.names}[_r_owner + 1] AS rule, {v.bases}[_r_owner + 1] AS basis,\n"
        f"    {version} AS rule_version, {', '.join(costs)}\n"
        f"  FROM attributed WHERE _split = 0"
    )
    inputs = [quote_ident(c) for c in sorted(rules.columns())]
    inputs += [tag_column(k) for k in sorted(rules.tag_keys())]
    keys = ", ".join(inputs) or "1 AS _one"
    on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM k.{c}" for c in inputs) or "TRUE"
    dim_cols = ", ".join(f"k.{quote_ident(d)}" for d in rules.all_dimensions())
    ctes = [
        f"src AS MATERIALIZED (\n  {src}\n)",
        f"keys AS (\n  SELECT DISTINCT {keys} FROM src\n)",
        f"matched AS (\n  SELECT *, {split} AS _split,\n    "
        f"{', '.join(matches) or 'TRUE AS _m0'}\n  FROM keys\n)",
        f"decided AS (\n  SELECT *, {', '.join(firsts)}\n  FROM matched\n)",
        f"resolved AS MATERIALIZED (\n  SELECT {keys}, _split, _r_owner,\n    {', '.join(dims)}\n"
        f"  FROM decided\n)",
        f"attributed AS MATERIALIZED (\n  SELECT {', '.join('s.' + c for c in [*base, *costs])},"
        f" k._split, k._r_owner, {dim_cols}\n  FROM src s JOIN resolved k ON {on}\n)",
    ]
    body = direct
    if rules.splits:
        ctes.append(
            split_ctes(
                rules, bind, "attributed", (*column_names(ALLOCATION_BASE), *rules.dimensions)
            )
        )
        shared_dims = []
        for d in rules.all_dimensions():
            if d == "microservice":
                labels = ", ".join(
                    bind(s.microservice) if s.microservice else "NULL" for s in rules.splits
                )
                shared_dims.append(f"COALESCE([{labels}][_split], microservice) AS microservice")
            elif d == "cost_center":
                shared_dims.append(f"COALESCE({v.cost_center}[owner], cost_center) AS cost_center")
            else:
                shared_dims.append(quote_ident(d))
        split_names = bind([s.name for s in rules.splits])
        body += (
            f"\nUNION ALL\nSELECT {', '.join(base[:11])}, {', '.join(shared_dims)},"
            f" 'shared' AS allocation,\n    {split_names}[_split] AS rule, 'split' AS basis,"
            f" {version} AS rule_version, {', '.join(costs)}\n  FROM split_shares"
        )
    # Generated from allowlisted, quoted identifiers and $-placeholders only; values are bound.
    sql = "WITH " + ",\n".join(ctes) + "\n" + body
    return CompiledQuery(sql, bind.used(sql))
