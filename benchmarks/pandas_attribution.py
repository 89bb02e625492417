"""The same attribution written straightforwardly in pandas, for the benchmark's comparison only.

It evaluates a ``RuleSet`` row by row with vectorized masks (first match wins per dimension),
sums to daily grain with ``groupby`` and splits shared costs by weights. Costs are float64 here
(exact Decimal objects would make pandas far slower still), so it is *not* exact: it exists to
measure what the obvious implementation costs, not to be used.
"""

from __future__ import annotations

import fnmatch
import re

import numpy as np
import pandas as pd

from costlens.attribution.actions import VALUE_SOURCES, Inherit
from costlens.attribution.conditions import (
    AllOf,
    AnyOf,
    Condition,
    FieldCondition,
    Matcher,
    Not,
    TagCondition,
)
from costlens.attribution.rules import Rule, RuleSet

COSTS = ["unblended_cost", "amortized_cost", "net_amortized_cost", "list_cost", "usage_amount"]
KEYS = [
    "usage_date",
    "billing_period",
    "payer_account_id",
    "account_id",
    "service_code",
    "region",
    "usage_type",
    "resource_id",
    "line_item_type",
    "charge_category",
    "purchase_option",
]


def _tag(df: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    out = pd.Series(np.nan, index=df.index, dtype=object)
    for k in keys:
        col = df[f"tag:{k}"].replace("", np.nan)
        out = out.fillna(col)
    return out


def _match(m: Matcher, s: pd.Series) -> pd.Series:
    if m.op == "present":
        return s.notna() & (s != "")
    if m.op == "absent":
        return s.isna() | (s == "")
    subject = s.str.strip().str.lower() if m.ignore_case else s
    values = [v.strip().lower() for v in m.values] if m.ignore_case else list(m.values)
    if m.op == "equals":
        r = subject == values[0]
    elif m.op == "in":
        r = subject.isin(values)
    elif m.op == "glob":
        r = subject.str.match(fnmatch.translate(values[0]))
    else:
        r = s.str.contains(m.values[0], regex=True, flags=re.I if m.ignore_case else 0)
    return r.fillna(False).astype(bool)


def _cond(c: Condition | None, df: pd.DataFrame) -> pd.Series:
    if c is None:
        return pd.Series(True, index=df.index)
    if isinstance(c, FieldCondition):
        return _match(c.matcher, df[c.column])
    if isinstance(c, TagCondition):
        return _match(c.matcher, _tag(df, c.keys))
    if isinstance(c, AllOf):
        out = pd.Series(True, index=df.index)
        for item in c.items:
            out &= _cond(item, df)
        return out
    if isinstance(c, AnyOf):
        out = pd.Series(False, index=df.index)
        for item in c.items:
            out |= _cond(item, df)
        return out
    assert isinstance(c, Not)
    return ~_cond(c.item, df)


def _value(rule: Rule, dim: str, df: pd.DataFrame, rs: RuleSet) -> pd.Series:
    t = rule.sets[dim]
    if t.is_literal:
        return pd.Series(t.literal, index=df.index, dtype=object)
    out = pd.Series("", index=df.index, dtype=object)
    for p in t.parts:
        if isinstance(p, str):
            out = out + p
        else:
            assert isinstance(p, Inherit)
            col = _tag(df, p.tag_keys) if p.source == "tag" else df[VALUE_SOURCES[p.source].column]
            out = out + col
    n = rule.normalize
    out = out.str.strip() if n.trim else out
    out = out.str.lower() if n.lower else out
    if n.aliases:
        out = out.replace({n.clean(k): v for k, v in n.aliases.items()})
    out = out.replace("", np.nan)
    if dim == "microservice":
        return out.str.strip().str.lower().map(rs.owners.microservice_aliases()).fillna(out)
    if dim == "owner":
        return out.str.strip().str.lower().map(rs.owners.owner_aliases())
    return out


def attribute_pandas(df: pd.DataFrame, rs: RuleSet) -> pd.DataFrame:
    """Allocations of ``df`` (line items with ``tag:<key>`` columns) under ``rs``."""
    ms_owner = {m.id: m.owner for m in rs.owners.microservices.values()}
    dims = {d: pd.Series(np.nan, index=df.index, dtype=object) for d in rs.all_dimensions()}
    rule_of = pd.Series("default", index=df.index, dtype=object)
    for rule in rs.rules:
        mask = _cond(rule.match, df)
        for dim in rule.sets:
            todo = mask & dims[dim].isna()
            if todo.any():
                dims[dim] = dims[dim].where(~todo, _value(rule, dim, df[todo], rs))
        if "owner" not in rule.sets and "microservice" in rule.sets:
            todo = mask & dims["owner"].isna()
            if todo.any():
                owners = _value(rule, "microservice", df[todo], rs).map(ms_owner)
                got = owners.reindex(df.index)
                rule_of = rule_of.where(~(todo & got.notna()), rule.name)
                dims["owner"] = dims["owner"].where(~todo, got)
        elif "owner" in rule.sets:
            rule_of = rule_of.where(
                ~(mask & rule_of.eq("default") & dims["owner"].notna()), rule.name
            )
    out = df[KEYS[1:] + COSTS].copy()
    out["usage_date"] = df["usage_start"].dt.date
    for d, s in dims.items():
        out[d] = s.fillna("unallocated") if d in ("microservice", "owner") else s
    out["rule"] = rule_of
    split_of = pd.Series(0, index=df.index)
    for i, split in enumerate(rs.splits, start=1):
        split_of = split_of.where(~((split_of == 0) & _cond(split.match, df)), i)
    out["_split"] = split_of
    group = KEYS + list(rs.all_dimensions()) + ["rule", "_split"]
    daily = out.groupby(group, dropna=False, sort=False)[COSTS].sum().reset_index()
    direct = daily[daily["_split"] == 0]
    shares = [direct.assign(allocation="direct")]
    for i, split in enumerate(rs.splits, start=1):
        src = daily[daily["_split"] == i]
        if src.empty:
            continue
        if split.method == "proportional":
            w = direct.groupby(["billing_period", "owner"])[split.cost_column].sum().clip(lower=0)
            w = w[w.index.get_level_values("owner").isin(split.targets)].reset_index()
            w = w.rename(columns={split.cost_column: "_w"})
        else:
            weights = {t: float(split.weights.get(t, 1)) for t in split.targets}
            w = pd.DataFrame({"owner": list(weights), "_w": list(weights.values())})
            w = w.merge(src[["billing_period"]].drop_duplicates(), how="cross")
        w["_w"] = w["_w"] / w.groupby("billing_period")["_w"].transform("sum")
        part = src.drop(columns=["owner"]).merge(w, on="billing_period")
        for c in COSTS:
            part[c] = part[c] * part["_w"]
        part["rule"] = split.name
        shares.append(part.drop(columns=["_w"]).assign(allocation="shared"))
    return pd.concat(shares, ignore_index=True).drop(columns=["_split"])
