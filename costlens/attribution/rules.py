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
from dataclasses import dataclass
from pathlib import Path

from costlens.attribution._yaml import ErrorLog, YNode, check_keys, parse_yaml_text, read_file
from costlens.attribution.actions import Normalize, ValueTemplate, alias_key, parse_template_text
from costlens.attribution.conditions import Condition, parse_condition
from costlens.attribution.owners import UNALLOCATED, OwnersRegistry
from costlens.attribution.splits import SPLIT_METHODS, SplitRule, parse_split
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
_TOP_KEYS = ("version", "dimensions", "defaults", "normalize", "rules", "shared")
_RULE_KEYS = ("name", "description", "match", "set", "normalize")
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


def _aliases(node: YNode, base: dict[str, str]) -> dict[str, str]:
    """``base`` plus the aliases of ``node``; a new alias replaces a base one with its key
    (``alias_key``), two aliases of ``node`` with one key are an error."""
    out = dict(base)
    seen: dict[str, str] = {}
    for alias, target in node.mapping("an alias map").items():
        key = alias_key(alias)
        if key in seen:
            raise target.error(
                f"aliases {seen[key]!r} and {alias!r} differ only in case or spaces",
                "aliases match trimmed and case-insensitively: keep one of them",
            )
        seen[key] = alias
        out = {k: v for k, v in out.items() if alias_key(k) != key}
        out[alias] = target.text("an alias target")
    return out


def _normalize(node: YNode, base: Normalize) -> Normalize:
    e = check_keys(node, ("trim", "lower", "aliases"), "normalize")
    return Normalize(
        trim=e["trim"].boolean() if "trim" in e else base.trim,
        lower=e["lower"].boolean() if "lower" in e else base.lower,
        aliases=_aliases(e["aliases"], base.aliases) if "aliases" in e else dict(base.aliases),
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


def _value(
    name: str, dim: str, node: YNode, dims: tuple[str, ...], owners: OwnersRegistry
) -> ValueTemplate:
    if dim not in dims:
        raise node.error(
            f"rule {name!r} sets unknown dimension {dim!r}",
            f"use one of: {', '.join(dims)} (declare extra ones under `dimensions:`)",
        )
    template = parse_template_text(node.text(f"a value for {dim}"), node.where)
    _check_literal(dim, template, node, owners)
    return template


def _rule(
    node: YNode, dims: tuple[str, ...], base: Normalize, owners: OwnersRegistry, log: ErrorLog
) -> Rule | None:
    """One entry of ``rules:``; None when it has errors (each recorded in ``log``)."""
    before = len(log.errors)
    e = check_keys(node, _RULE_KEYS, "a rule", log)
    if "name" not in e:
        raise node.error("rule without a name", "add `name: <short-name>`")
    name = e["name"].text("a rule name")
    sets: dict[str, ValueTemplate] = {}
    if "set" not in e:
        log.add(node.error(f"rule {name!r} sets nothing", "add `set: {microservice: ...}`"))
    for dim, value in (e["set"].mapping("dimension: value pairs") if "set" in e else {}).items():
        template = log.attempt(_value, name, dim, value, dims, owners)
        if template is not None:
            sets[dim] = template
    match = log.attempt(parse_condition, e["match"]) if "match" in e else None
    normalize = log.attempt(_normalize, e["normalize"], base) if "normalize" in e else base
    description = log.attempt(e["description"].text) if "description" in e else ""
    if len(log.errors) > before or normalize is None:
        return None
    return Rule(name, match, sets, normalize, node.where, description or "")


def _items(top: dict[str, YNode], key: str, what: str, log: ErrorLog) -> list[YNode]:
    """The list under ``key`` (none when absent, or when it is not a list: recorded)."""
    return (log.attempt(top[key].sequence, what) or []) if key in top else []


def _dimensions(top: dict[str, YNode], log: ErrorLog) -> list[str]:
    extra: list[str] = []
    for node in _items(top, "dimensions", "a list of dimension names", log):
        dim = log.attempt(node.text, "a dimension name")
        if dim is None or dim in REQUIRED_DIMENSIONS:
            continue
        if not _DIMENSION.match(dim) or dim in _RESERVED or dim in extra:
            log.add(
                node.error(
                    f"invalid, reserved or repeated dimension name {dim!r}",
                    "use a new lower_snake_case name (not an allocations column)",
                )
            )
            continue
        extra.append(dim)
    return extra


def _defaults(top: dict[str, YNode], extra: list[str], log: ErrorLog) -> dict[str, str]:
    defaults: dict[str, str] = {}
    entries = (
        log.attempt(top["defaults"].mapping, "dimension defaults") if "defaults" in top else {}
    )
    for dim, value in (entries or {}).items():
        if dim not in extra:
            log.add(
                value.error(
                    f"default for unknown or required dimension {dim!r}",
                    f"defaults apply to declared extra dimensions: {', '.join(extra) or 'none'}",
                )
            )
            continue
        text = log.attempt(value.text)
        if text is not None:
            defaults[dim] = text
    return defaults


def _version(node: YNode) -> None:
    if node.text() != "1":
        raise node.error("unsupported rules version", "write `version: 1`")


def parse_rules(text: str, file: str, owners: OwnersRegistry, sha256: str = "") -> RuleSet:
    """Validate the text of a ``rules.yaml`` against ``owners`` (see ``load_rules``).

    Every error of the file is reported: one ``RuleError``, or a ``RuleErrors`` listing all.
    """
    log = ErrorLog()
    top = check_keys(parse_yaml_text(text, file), _TOP_KEYS, "rules.yaml", log)
    if "version" in top:
        log.attempt(_version, top["version"])
    extra = _dimensions(top, log)
    dims = (*REQUIRED_DIMENSIONS, *extra)
    defaults = _defaults(top, extra, log)
    base = log.attempt(_normalize, top["normalize"], Normalize()) if "normalize" in top else None
    base = base or Normalize()
    rules: list[Rule] = []
    for node in _items(top, "rules", "a list of rules", log):
        rule = log.attempt(_rule, node, dims, base, owners, log)
        if rule is not None and any(r.name == rule.name for r in rules):
            log.add(node.error(f"duplicate rule name {rule.name!r}", "give each rule its own name"))
        elif rule is not None:
            rules.append(rule)
    splits: list[SplitRule] = []
    for node in _items(top, "shared", "a list of splits", log):
        split = log.attempt(parse_split, node, owners, log)
        if split is None:
            continue
        if any(s.name == split.name for s in splits) or any(r.name == split.name for r in rules):
            log.add(
                node.error(
                    f"duplicate name {split.name!r}", "give each rule and split its own name"
                )
            )
            continue
        splits.append(split)
    log.raise_if_any(file)
    return RuleSet(tuple(rules), tuple(splits), tuple(extra), defaults, owners, file, sha256)


def load_rules(path: Path | str, owners: OwnersRegistry) -> RuleSet:
    """Load and validate ``rules.yaml`` against ``owners``."""
    data = read_file(Path(path))
    text = data.decode("utf-8", errors="replace")
    return parse_rules(text, str(path), owners, hashlib.sha256(data).hexdigest())
