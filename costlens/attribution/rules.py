"""The rules file (``rules.yaml``) as a typed, fully validated rule set.

The whole file is validated before anything runs; every error names the file and line and says
how to fix it (unknown kinds list the valid ones). See ``docs/rules.md`` for the language.

>>> from costlens.attribution.owners import parse_owners
>>> owners = parse_owners("owners: [{id: payments, microservices: [payments-api]}]", "o.yaml")
>>> rs = parse_rules('''
... dimensions: [environment]
... rules:
...   - name: app-tag
...     match: {tag: app}
...     set: {microservice: "{tag:app}", environment: "{tag:env}"}
... ''', "r.yaml", owners)
>>> [r.name for r in rs.rules], rs.dimensions, rs.rules[0].basis
(['app-tag'], ('environment',), 'tag')
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from costlens.attribution._yaml import YNode, check_keys, parse_yaml_text, read_file
from costlens.attribution.actions import Normalize, ValueTemplate, parse_template_text
from costlens.attribution.conditions import Condition, parse_condition
from costlens.attribution.owners import UNALLOCATED, OwnersRegistry
from costlens.schema import ALLOCATION_BASE, COST_COLUMNS, column_names

__all__ = [
    "REQUIRED_DIMENSIONS",
    "SPLIT_METHODS",
    "Rule",
    "RuleSet",
    "SplitRule",
    "load_rules",
    "parse_rules",
]

REQUIRED_DIMENSIONS = ("microservice", "owner")
SPLIT_METHODS = ("proportional", "even", "fixed")
_TOP_KEYS = ("version", "dimensions", "defaults", "normalize", "rules", "shared")
_RULE_KEYS = ("name", "description", "match", "set", "normalize")
_SPLIT_KEYS = ("name", "description", "match", "to", "by", "cost_column", "weights", "microservice")
_DIMENSION = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = {
    *column_names(ALLOCATION_BASE),
    *COST_COLUMNS,
    "usage_amount",
    "allocation",
    "rule",
    "basis",
    "rule_version",
}


@dataclass(frozen=True)
class Rule:
    """An ordered rule: when ``match`` holds, set the dimensions in ``sets``."""

    name: str
    match: Condition | None
    sets: dict[str, ValueTemplate]
    normalize: Normalize
    where: str
    description: str = ""

    @property
    def basis(self) -> str:
        """``tag`` when the rule reads tags (in its condition or values), else ``rule``."""
        reads_tags = self.match is not None and bool(self.match.tag_keys())
        return "tag" if reads_tags or any(t.inherits_tag() for t in self.sets.values()) else "rule"


@dataclass(frozen=True)
class SplitRule:
    """A shared-cost split: costs matching ``match`` go to ``targets`` by ``method``."""

    name: str
    match: Condition
    targets: tuple[str, ...]
    method: str
    cost_column: str = "amortized_cost"
    weights: dict[str, Decimal] = field(default_factory=dict)
    microservice: str | None = None
    """Microservice label of the shares; None keeps the one the rules gave the cost."""
    where: str = ""
    description: str = ""


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set with its owners registry."""

    rules: tuple[Rule, ...]
    splits: tuple[SplitRule, ...]
    dimensions: tuple[str, ...]
    """Extra dimensions, after ``microservice`` and ``owner``."""
    defaults: dict[str, str]
    owners: OwnersRegistry
    path: str = "rules.yaml"
    sha256: str = ""

    @property
    def version(self) -> str:
        """Rule-set version id: 16 hex digits of sha256 over the rules and owners file hashes."""
        both = f"{self.sha256}:{self.owners.sha256}".encode()
        return hashlib.sha256(both).hexdigest()[:16]

    def all_dimensions(self) -> tuple[str, ...]:
        return (*REQUIRED_DIMENSIONS, *self.dimensions)

    def tag_keys(self) -> set[str]:
        """Every tag key the rules and splits read."""
        keys: set[str] = set()
        for rule in self.rules:
            keys |= rule.match.tag_keys() if rule.match else set()
            for t in rule.sets.values():
                keys |= t.tag_keys()
        for split in self.splits:
            keys |= split.match.tag_keys()
        return keys

    def columns(self) -> set[str]:
        """Every ``line_items`` column the rules and splits read."""
        cols: set[str] = set()
        for rule in self.rules:
            cols |= rule.match.columns() if rule.match else set()
            for t in rule.sets.values():
                cols |= t.columns()
        for split in self.splits:
            cols |= split.match.columns()
        return cols


def _normalize(node: YNode, base: Normalize) -> Normalize:
    e = check_keys(node, ("trim", "lower", "aliases"), "normalize")
    aliases = dict(base.aliases)
    for k, v in (e["aliases"].mapping("an alias map") if "aliases" in e else {}).items():
        aliases[k] = v.text("an alias target")
    return Normalize(
        trim=e["trim"].boolean() if "trim" in e else base.trim,
        lower=e["lower"].boolean() if "lower" in e else base.lower,
        aliases=aliases,
    )


def _check_literal(dim: str, template: ValueTemplate, node: YNode, owners: OwnersRegistry) -> None:
    if not template.is_literal:
        return
    value = template.literal
    if dim == "owner" and value != UNALLOCATED and value not in owners.owners:
        raise node.error(
            f"unknown owner {value!r}",
            f"add it to {owners.path}, or use one of: {', '.join(sorted(owners.owners))}",
        )
    if dim == "microservice" and value != UNALLOCATED and value not in owners.microservices:
        raise node.error(
            f"unknown microservice {value!r}", f"add it under an owner in {owners.path}"
        )


def _rule(node: YNode, dims: tuple[str, ...], base: Normalize, owners: OwnersRegistry) -> Rule:
    e = check_keys(node, _RULE_KEYS, "a rule")
    if "name" not in e:
        raise node.error("rule without a name", "add `name: <short-name>`")
    name = e["name"].text("a rule name")
    if "set" not in e:
        raise node.error(f"rule {name!r} sets nothing", "add `set: {microservice: ...}`")
    sets: dict[str, ValueTemplate] = {}
    for dim, value in e["set"].mapping("dimension: value pairs").items():
        if dim not in dims:
            raise value.error(
                f"rule {name!r} sets unknown dimension {dim!r}",
                f"use one of: {', '.join(dims)} (declare extra ones under `dimensions:`)",
            )
        sets[dim] = parse_template_text(value.text(f"a value for {dim}"), value.where)
        _check_literal(dim, sets[dim], value, owners)
    return Rule(
        name=name,
        match=parse_condition(e["match"]) if "match" in e else None,
        sets=sets,
        normalize=_normalize(e["normalize"], base) if "normalize" in e else base,
        where=node.where,
        description=e["description"].text() if "description" in e else "",
    )


def _split(node: YNode, owners: OwnersRegistry) -> SplitRule:
    e = check_keys(node, _SPLIT_KEYS, "a shared-cost split")
    for required in ("name", "match", "by"):
        if required not in e:
            raise node.error(f"split without `{required}`", "see docs/rules.md, Shared costs")
    name = e["name"].text("a split name")
    method = e["by"].text("a split method")
    if method not in SPLIT_METHODS:
        raise e["by"].error(
            f"unknown split method {method!r}", f"use one of: {', '.join(SPLIT_METHODS)}"
        )
    to = e.get("to")
    if to is None or (to.is_scalar and to.text() == "all"):
        targets = tuple(sorted(owners.owners))
    else:
        targets = tuple(to.text_list("a list of owner ids"))
        for t in targets:
            if t not in owners.owners:
                raise to.error(
                    f"split {name!r}: unknown owner {t!r}",
                    f"use `all` or owners from {owners.path}: {', '.join(sorted(owners.owners))}",
                )
    if not targets:
        raise node.error(f"split {name!r} has no target owners", f"add owners to {owners.path}")
    weights: dict[str, Decimal] = {}
    if method == "fixed":
        if "weights" not in e:
            raise node.error(
                f"split {name!r} is `by: fixed` without `weights`", "add `weights: {a: 2, b: 1}`"
            )
        for owner_id, w in e["weights"].mapping("owner: weight pairs").items():
            if owner_id not in owners.owners:
                raise w.error(f"unknown owner {owner_id!r}", f"use owners from {owners.path}")
            weight = w.decimal("a weight")
            if weight < 0 or weight.as_tuple().exponent < -10:  # type: ignore[operator]
                raise w.error("a weight must be >= 0 with at most 10 decimals", "write e.g. 2.5")
            weights[owner_id] = weight
        if to is None:
            targets = tuple(weights)
        if set(weights) != set(targets) or sum(weights.values()) <= 0:
            raise e["weights"].error(
                f"split {name!r}: weights must cover exactly its targets and sum above 0",
                f"give a weight to each of: {', '.join(targets)}",
            )
    elif "weights" in e:
        raise e["weights"].error(
            "`weights` only applies to `by: fixed`", "remove it or use by: fixed"
        )
    cost_column = e["cost_column"].text() if "cost_column" in e else "amortized_cost"
    if cost_column not in COST_COLUMNS:
        raise e["cost_column"].error(
            f"unknown cost column {cost_column!r}", f"use one of: {', '.join(COST_COLUMNS)}"
        )
    microservice = e["microservice"].text() if "microservice" in e else None
    if microservice is not None and microservice not in owners.microservices:
        raise e["microservice"].error(
            f"unknown microservice {microservice!r}", f"add it under an owner in {owners.path}"
        )
    return SplitRule(
        name=name,
        match=parse_condition(e["match"]),
        targets=targets,
        method=method,
        cost_column=cost_column,
        weights=weights,
        microservice=microservice,
        where=node.where,
        description=e["description"].text() if "description" in e else "",
    )


def parse_rules(text: str, file: str, owners: OwnersRegistry, sha256: str = "") -> RuleSet:
    """Validate the text of a ``rules.yaml`` against ``owners`` (see ``load_rules``)."""
    top = check_keys(parse_yaml_text(text, file), _TOP_KEYS, "rules.yaml")
    if "version" in top and top["version"].text() != "1":
        raise top["version"].error("unsupported rules version", "write `version: 1`")
    extra: list[str] = []
    for node in (
        top["dimensions"].sequence("a list of dimension names") if "dimensions" in top else []
    ):
        dim = node.text("a dimension name")
        if dim in REQUIRED_DIMENSIONS:
            continue
        if not _DIMENSION.match(dim) or dim in _RESERVED or dim in extra:
            raise node.error(
                f"invalid, reserved or repeated dimension name {dim!r}",
                "use a new lower_snake_case name (not an allocations column)",
            )
        extra.append(dim)
    dims = (*REQUIRED_DIMENSIONS, *extra)
    defaults: dict[str, str] = {}
    for dim, value in (
        top["defaults"].mapping("dimension defaults") if "defaults" in top else {}
    ).items():
        if dim not in extra:
            raise value.error(
                f"default for unknown or required dimension {dim!r}",
                f"defaults apply to declared extra dimensions: {', '.join(extra) or 'none'}",
            )
        defaults[dim] = value.text()
    base = _normalize(top["normalize"], Normalize()) if "normalize" in top else Normalize()
    rules: list[Rule] = []
    for node in top["rules"].sequence("a list of rules") if "rules" in top else []:
        rule = _rule(node, dims, base, owners)
        if any(r.name == rule.name for r in rules):
            raise node.error(f"duplicate rule name {rule.name!r}", "give each rule its own name")
        rules.append(rule)
    splits: list[SplitRule] = []
    for node in top["shared"].sequence("a list of splits") if "shared" in top else []:
        split = _split(node, owners)
        if any(s.name == split.name for s in splits) or any(r.name == split.name for r in rules):
            raise node.error(
                f"duplicate name {split.name!r}", "give each rule and split its own name"
            )
        splits.append(split)
    return RuleSet(tuple(rules), tuple(splits), tuple(extra), defaults, owners, file, sha256)


def load_rules(path: Path | str, owners: OwnersRegistry) -> RuleSet:
    """Load and validate ``rules.yaml`` against ``owners``."""
    data = read_file(Path(path))
    text = data.decode("utf-8", errors="replace")
    return parse_rules(text, str(path), owners, hashlib.sha256(data).hexdigest())
