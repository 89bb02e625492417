# ruff: noqa: S608  (generated SQL: allowlisted quoted identifiers and bound $-placeholders only)
"""``rules explain``: why a resource's cost landed where it did.

For each distinct combination of the attributes the rules read (a resource usually has one or a
few), every rule is evaluated in SQL with each of its leaf conditions, and every value it would
set; the first-match logic is then replayed to name, per dimension, the rule that decided it and
why each earlier rule did not (which condition failed, on which value, or which inherited value
was missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from costlens.attribution._sql import Bind, quote_ident, tag_column
from costlens.attribution.compile import RuleValues, source_columns
from costlens.attribution.conditions import FieldCondition, TagCondition
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import RuleSet, SplitRule
from costlens.errors import RuleError

__all__ = ["Decision", "Explanation", "RuleCheck", "explain_resource"]

_MAX_COMBINATIONS = 20


@dataclass(frozen=True)
class RuleCheck:
    """One rule evaluated against one line item."""

    rule: str
    where: str
    matched: bool
    failed: tuple[str, ...]
    """Descriptions of the leaf conditions that were false, with the values seen."""
    values: dict[str, str | None]
    """Value per dimension the rule sets (None: an inherited value was missing or unknown)."""


@dataclass(frozen=True)
class Decision:
    """The value of one dimension and the rule that decided it (``default`` if none)."""

    dimension: str
    value: str | None
    rule: str


@dataclass(frozen=True)
class Explanation:
    """Why one combination of line-item attributes was attributed as it was."""

    attributes: dict[str, Any]
    unblended_cost: Decimal
    decisions: tuple[Decision, ...]
    checks: tuple[RuleCheck, ...]
    split: str | None = None
    notes: list[str] = field(default_factory=list)
    split_rule: SplitRule | None = None
    """The shared-cost split that takes this cost (``split`` is its name)."""

    def lines(self) -> list[str]:
        """A human-readable explanation; a split that takes the cost comes first, since it, not
        the rules' owner, decides where the cost lands."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.attributes.items() if v not in (None, ""))
        out = [f"line items with {shown} (unblended {self.unblended_cost})"]
        if self.split_rule is not None:
            s = self.split_rule
            basis = {
                "proportional": f"in proportion to their own {s.cost_column.replace('_', ' ')}"
                " (a month in which none of them has any leaves it unallocated)",
                "even": "evenly",
                "fixed": "by fixed weights",
            }.get(s.method, s.method)
            out.append(
                f"  shared: split {s.name!r} ({s.where}) takes this cost and shares it among "
                f"{', '.join(s.targets)} {basis}; the values below are the rules' before it"
            )
        for d in self.decisions:
            out.append(f"  {d.dimension} = {d.value!r}  <- {d.rule}")
        last = max(
            (i for i, c in enumerate(self.checks) if any(d.rule == c.rule for d in self.decisions)),
            default=len(self.checks) - 1,
        )
        for check in self.checks[: last + 1]:
            if not check.matched:
                out.append(
                    f"  rule {check.rule!r} ({check.where}): did not match: "
                    + "; ".join(check.failed)
                )
            else:
                sets = ", ".join(
                    f"{k}={v!r}"
                    if v is not None
                    else f"no {k} (inherited value missing or unknown)"
                    for k, v in check.values.items()
                )
                out.append(f"  rule {check.rule!r} ({check.where}): matched, gives {sets}")
        if self.split and self.split_rule is None:
            out.append(f"  shared: split {self.split!r} takes this cost and distributes it")
        return out


def _leaf_value(leaf: object, row: dict[str, Any]) -> str:
    if isinstance(leaf, FieldCondition):
        return f"{leaf.column} = {row.get(leaf.column)!r}"
    if isinstance(leaf, TagCondition):
        return ", ".join(f"tag {k} = {row.get('tag:' + k)!r}" for k in leaf.keys)
    return ""


def explain_resource(
    con: duckdb.DuckDBPyConnection, rules: RuleSet, resource_id: str
) -> list[Explanation]:
    """Explanations for the line items of ``resource_id`` (one per distinct attribute set)."""
    bind = Bind()
    values = RuleValues(rules, bind)
    tags = "".join(f", tags[{bind(k)}] AS {tag_column(k)}" for k in sorted(rules.tag_keys()))
    cols = ["account_id", "service_code", "usage_type", "line_item_type", *source_columns(rules)]
    cols += [c for c in sorted(rules.columns()) if c not in cols]
    tag_keys = sorted(rules.tag_keys())
    select = [quote_ident(c) for c in cols] + [tag_column(k) for k in tag_keys]
    exprs: list[str] = []
    for i, rule in enumerate(rules.rules):
        exprs.append(f"{rule.match.sql(bind) if rule.match else 'TRUE'} AS _m{i}")
        for j, leaf in enumerate(rule.match.leaves() if rule.match else ()):
            exprs.append(f"{leaf.sql(bind)} AS _l{i}_{j}")
        for dim in rule.sets:
            sql = values.owner(rule) if dim == "owner" else values.value(rule, dim)
            exprs.append(f"{sql} AS {quote_ident(f'_v{i}_{dim}')}")
        if "owner" not in rule.sets and "microservice" in rule.sets:
            exprs.append(f"{values.owner(rule)} AS {quote_ident(f'_v{i}_owner')}")
    for k, split in enumerate(rules.splits):
        exprs.append(f"{split.match.sql(bind)} AS _s{k}")
    rid = bind(resource_id)
    group = ", ".join(select)
    sql = (
        f"WITH src AS (\n  SELECT *{tags} FROM line_items WHERE resource_id = {rid}\n)\n"
        f"SELECT {group}, SUM(unblended_cost) AS unblended_cost{''.join(', ' + e for e in exprs)}\n"
        f"FROM src GROUP BY ALL ORDER BY unblended_cost DESC LIMIT {_MAX_COMBINATIONS}"
    )
    cur = con.execute(sql, bind.used(sql))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if not rows:
        raise RuleError(
            f"no line items with resource_id {resource_id!r}",
            where="line_items",
            fix="copy a resource id from the dashboard's top resources, or check the period loaded",
        )
    return [_explain_row(rules, row, cols, tag_keys) for row in rows]


def _explain_row(
    rules: RuleSet, row: dict[str, Any], cols: list[str], tag_keys: list[str]
) -> Explanation:
    checks = []
    for i, rule in enumerate(rules.rules):
        leaves = list(rule.match.leaves()) if rule.match else []
        failed = tuple(
            f"{leaf.describe()} was false ({_leaf_value(leaf, row)})"
            for j, leaf in enumerate(leaves)
            if not row[f"_l{i}_{j}"]
        )
        vals = {
            dim: row.get(f"_v{i}_{dim}") for dim in rules.all_dimensions() if f"_v{i}_{dim}" in row
        }
        checks.append(RuleCheck(rule.name, rule.where, bool(row[f"_m{i}"]), failed, vals))
    decisions = []
    for dim in rules.all_dimensions():
        winner = next((c for c in checks if c.matched and c.values.get(dim) is not None), None)
        if winner is not None:
            decisions.append(Decision(dim, winner.values[dim], f"rule {winner.rule!r}"))
        elif dim in ("microservice", "owner"):
            decisions.append(Decision(dim, UNALLOCATED, "default: no rule matched with a value"))
        elif dim == "cost_center":
            owner = next((d.value for d in decisions if d.dimension == "owner"), None)
            known = rules.owners.owners.get(owner or "")
            cc = (known.cost_center if known else "") or rules.defaults.get(dim)
            decisions.append(Decision(dim, cc, "default: the owner's cost center"))
        else:
            decisions.append(Decision(dim, rules.defaults.get(dim), "default"))
    split = next((s for k, s in enumerate(rules.splits) if row[f"_s{k}"]), None)
    attributes = {c: row[c] for c in cols} | {f"tag:{k}": row[f"tag:{k}"] for k in tag_keys}
    return Explanation(
        attributes,
        Decimal(row["unblended_cost"] or 0),
        tuple(decisions),
        tuple(checks),
        split.name if split else None,
        split_rule=split,
    )
