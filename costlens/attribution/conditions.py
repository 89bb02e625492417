"""Conditions of rules and splits: a registry of kinds, each with its schema and a YAML example.

A condition is a mapping; each key names a kind (several keys: all must hold)::

    match:
      service: AmazonEC2                       # equals
      region: [us-east-1, us-west-2]           # in a list
      tag: {key: team | Team | owner, equals: payments, ignore_case: true}
      not: {account_name: {glob: "*sandbox*"}}

Column kinds (``account``, ``service``, ``usage_type``...) take a value (equals), a list (in) or a
matcher mapping: ``equals``, ``in``, ``glob``, ``regex``, ``present``, ``absent``, plus
``ignore_case: true`` (compare trimmed and case-insensitively). ``tag`` takes ``key`` (aliases
separated by ``|``; keys are normalized like ingest does, so ``Team`` is ``team``) and a matcher;
``tag: app`` alone means the tag is present. ``all``, ``any`` and ``not`` combine conditions.
Missing values (NULL, or '' for tags) never match equals/in/glob/regex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb

from costlens.attribution._sql import Bind, quote_ident, tag_column
from costlens.attribution._yaml import YNode, check_keys
from costlens.attribution.globs import glob_problem
from costlens.errors import first_line
from costlens.tags import normalize_tag_key

__all__ = [
    "CONDITION_KINDS",
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionKind",
    "FieldCondition",
    "Matcher",
    "Not",
    "TagCondition",
    "parse_condition",
    "parse_tag_keys",
]

_OPS = ("equals", "in", "glob", "regex", "present", "absent")


@dataclass(frozen=True)
class Matcher:
    """How a value is tested: one operator, its operand(s), and case sensitivity."""

    op: str
    values: tuple[str, ...] = ()
    ignore_case: bool = False

    def sql(self, expr: str, bind: Bind) -> str:
        """A boolean SQL expression testing ``expr`` (never NULL)."""
        if self.op == "present":
            return f"({expr} IS NOT NULL AND {expr} <> '')"
        if self.op == "absent":
            return f"({expr} IS NULL OR {expr} = '')"
        subject = f"lower(trim({expr}))" if self.ignore_case else expr
        values = [v.strip().lower() for v in self.values] if self.ignore_case else self.values
        if self.op == "equals":
            test = f"{subject} = {bind(values[0])}"
        elif self.op == "in":
            test = f"{subject} IN ({', '.join(bind(v) for v in values)})"
        elif self.op == "glob":
            test = f"{subject} GLOB {bind(values[0])}"
        else:
            flags = "(?i)" if self.ignore_case else ""  # inline: RE2 and Java regex alike
            test = f"regexp_matches({expr}, {bind(flags + self.values[0])})"
        return f"COALESCE({test}, FALSE)"

    def describe(self) -> str:
        case = " (ignoring case)" if self.ignore_case else ""
        if self.op in ("present", "absent"):
            return f"is {self.op}"
        shown = ", ".join(repr(v) for v in self.values)
        return f"{self.op} {'[' + shown + ']' if self.op == 'in' else shown}{case}"


class Condition:
    """Base of every condition: SQL, a description and the inputs it reads."""

    def sql(self, bind: Bind) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def children(self) -> tuple[Condition, ...]:
        return ()

    def leaves(self) -> Iterator[Condition]:
        """The non-combinator conditions inside this one, in order."""
        kids = self.children()
        if not kids:
            yield self
        for kid in kids:
            yield from kid.leaves()

    def columns(self) -> set[str]:
        """``line_items`` columns read."""
        return set().union(*(k.columns() for k in self.children())) if self.children() else set()

    def tag_keys(self) -> set[str]:
        """Normalized tag keys read."""
        return set().union(*(k.tag_keys() for k in self.children())) if self.children() else set()


@dataclass(frozen=True)
class FieldCondition(Condition):
    """A test of one ``line_items`` column."""

    kind: str
    column: str
    matcher: Matcher

    def sql(self, bind: Bind) -> str:
        return self.matcher.sql(quote_ident(self.column), bind)

    def describe(self) -> str:
        return f"{self.kind} {self.matcher.describe()}"

    def columns(self) -> set[str]:
        return {self.column}


def tag_value_sql(keys: tuple[str, ...]) -> str:
    """The first non-empty value among tag ``keys`` (aliases), or NULL."""
    parts = [f"NULLIF({tag_column(k)}, '')" for k in keys]
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


@dataclass(frozen=True)
class TagCondition(Condition):
    """A test of a tag's value; ``keys`` are aliases, the first non-empty one counts."""

    keys: tuple[str, ...]
    matcher: Matcher

    def sql(self, bind: Bind) -> str:
        return self.matcher.sql(tag_value_sql(self.keys), bind)

    def describe(self) -> str:
        return f"tag {' | '.join(self.keys)} {self.matcher.describe()}"

    def tag_keys(self) -> set[str]:
        return set(self.keys)


@dataclass(frozen=True)
class AllOf(Condition):
    items: tuple[Condition, ...]

    def sql(self, bind: Bind) -> str:
        return "(" + " AND ".join(c.sql(bind) for c in self.items) + ")" if self.items else "TRUE"

    def describe(self) -> str:
        return "all of (" + "; ".join(c.describe() for c in self.items) + ")"

    def children(self) -> tuple[Condition, ...]:
        return self.items


@dataclass(frozen=True)
class AnyOf(Condition):
    items: tuple[Condition, ...]

    def sql(self, bind: Bind) -> str:
        return "(" + " OR ".join(c.sql(bind) for c in self.items) + ")" if self.items else "FALSE"

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.items) + ")"

    def children(self) -> tuple[Condition, ...]:
        return self.items


@dataclass(frozen=True)
class Not(Condition):
    item: Condition

    def sql(self, bind: Bind) -> str:
        return f"(NOT {self.item.sql(bind)})"

    def describe(self) -> str:
        return f"not ({self.item.describe()})"

    def children(self) -> tuple[Condition, ...]:
        return (self.item,)


@dataclass(frozen=True)
class ConditionKind:
    """A registered condition kind: its name, parser and documentation (with a YAML example)."""

    name: str
    parse: Callable[[YNode], Condition]
    doc: str


CONDITION_KINDS: dict[str, ConditionKind] = {}
"""Every condition kind by name; ``docs/rules.md`` and a meta-test walk it."""


def _register(name: str, doc: str) -> Callable[[Callable[[YNode], Condition]], None]:
    def deco(fn: Callable[[YNode], Condition]) -> None:
        CONDITION_KINDS[name] = ConditionKind(name, fn, doc)

    return deco


_regex_checker = duckdb.connect()


def _matcher(node: YNode, entries: dict[str, YNode]) -> Matcher:
    ops = [op for op in _OPS if op in entries]
    if len(ops) != 1:
        raise node.error(
            f"expected exactly one of {', '.join(_OPS)} (found {len(ops)})",
            "write e.g. `equals: value` or `in: [a, b]`",
        )
    op = ops[0]
    ignore_case = entries["ignore_case"].boolean() if "ignore_case" in entries else False
    operand = entries[op]
    if op in ("present", "absent"):
        if not operand.boolean():
            raise operand.error(f"`{op}: false` is not allowed", f"write `{op}: true`")
        return Matcher(op, (), ignore_case)
    values = tuple(operand.text_list()) if op == "in" else (operand.text(f"a value for {op}"),)
    if op == "regex":
        try:
            _regex_checker.execute("SELECT regexp_matches('', $1)", [values[0]]).fetchall()
        except duckdb.Error as exc:
            raise operand.error(
                f"invalid regular expression {values[0]!r} ({first_line(exc)})",
                "use RE2 syntax (https://github.com/google/re2/wiki/Syntax)",
            ) from None
    if op == "glob" and (problem := glob_problem(values[0])) is not None:
        raise operand.error(f"glob {values[0]!r} can never match: {problem[0]}", problem[1])
    if op == "in" and not values:
        raise operand.error("`in` needs at least one value", "list the values: [a, b]")
    return Matcher(op, values, ignore_case)


def _field_kind(kind: str, column: str, example: str) -> None:
    doc = (
        f"Tests ``line_items.{column}``.\n\n"
        f"Schema: a value (equals), a list (in), or a mapping with one of {', '.join(_OPS)} "
        f"and optional ``ignore_case``.\n\nExample::\n\n    {kind}: {example}\n"
    )

    def parse(node: YNode) -> Condition:
        if node.is_scalar:
            return FieldCondition(kind, column, Matcher("equals", (node.text(),)))
        if node.is_sequence:
            values = tuple(node.text_list())
            if not values:
                raise node.error("an empty list matches nothing", "list at least one value")
            return FieldCondition(kind, column, Matcher("in", values))
        entries = check_keys(node, (*_OPS, "ignore_case"), f"a {kind} condition")
        return FieldCondition(kind, column, _matcher(node, entries))

    _register(kind, doc)(parse)


for _kind, _column, _example in (
    ("account", "account_id", '["210987654301", "210987654302"]'),
    ("account_name", "account_name", '{glob: "*-sandbox"}'),
    ("payer_account", "payer_account_id", '"210987654300"'),
    ("service", "service_code", "AmazonEC2"),
    ("usage_type", "usage_type", '{glob: "*DataTransfer*"}'),
    ("operation", "operation", "NatGateway"),
    ("region", "region", "[us-east-1, eu-west-1]"),
    ("resource", "resource_id", '{regex: "^arn:aws:s3:::northwind-logs-.*"}'),
    ("line_item_type", "line_item_type", "Tax"),
    ("charge_category", "charge_category", "[Credit, Adjustment]"),
    ("purchase_option", "purchase_option", "Spot"),
):
    _field_kind(_kind, _column, _example)


def parse_tag_keys(node: YNode) -> tuple[str, ...]:
    """Tag-key aliases (``team | Team | owner`` or a list), normalized like ingest, deduplicated."""
    raw = node.text_list("tag keys") if node.is_sequence else node.text("tag keys").split("|")
    keys: list[str] = []
    for key in raw:
        norm = normalize_tag_key(key)
        if not norm:
            raise node.error(
                f"empty tag key in {node.python()!r}", "write keys like `team | owner`"
            )
        if norm not in keys:
            keys.append(norm)
    return tuple(keys)


@_register(
    "tag",
    """Tests a resource tag. ``key`` lists aliases (first non-empty value counts).

Schema: ``key`` plus one of equals, in, glob, regex, present, absent; optional ``ignore_case``.
A bare key means present.

Example::

    tag: {key: team | Team | owner, in: [payments, Payments], ignore_case: true}
""",
)
def _tag(node: YNode) -> Condition:
    if node.is_scalar:
        return TagCondition(parse_tag_keys(node), Matcher("present"))
    entries = check_keys(node, ("key", *_OPS, "ignore_case"), "a tag condition")
    if "key" not in entries:
        raise node.error("tag condition without `key`", "add `key: app` (aliases: `app | App`)")
    return TagCondition(parse_tag_keys(entries["key"]), _matcher(node, entries))


def _items(node: YNode, kind: str) -> tuple[Condition, ...]:
    items = tuple(parse_condition(n) for n in node.sequence(f"a list of conditions for {kind}"))
    if not items:
        raise node.error(f"`{kind}` needs at least one condition", "list conditions under it")
    return items


@_register(
    "all",
    "All listed conditions hold.\n\nExample::\n\n    all: [{service: AmazonEC2}, {tag: app}]\n",
)
def _all(node: YNode) -> Condition:
    return AllOf(_items(node, "all"))


@_register(
    "any",
    "At least one listed condition holds.\n\nExample::\n\n"
    "    any: [{service: AmazonS3}, {service: AmazonCloudFront}]\n",
)
def _any(node: YNode) -> Condition:
    return AnyOf(_items(node, "any"))


@_register("not", "The condition does not hold.\n\nExample::\n\n    not: {tag: app}\n")
def _not(node: YNode) -> Condition:
    return Not(parse_condition(node))


def parse_condition(node: YNode) -> Condition:
    """Parse a condition mapping; unknown kinds are errors listing the valid ones."""
    if not node.is_mapping:
        raise node.error(
            "a condition must be a mapping such as `service: AmazonEC2`",
            f"use one of the kinds: {', '.join(CONDITION_KINDS)}",
        )
    items: list[Condition] = []
    for name, value in node.mapping("a condition").items():
        kind = CONDITION_KINDS.get(name)
        if kind is None:
            raise value.error(
                f"unknown condition kind {name!r}", f"use one of: {', '.join(CONDITION_KINDS)}"
            )
        items.append(kind.parse(value))
    if not items:
        raise node.error("empty condition", "remove `match:` to match everything")
    return items[0] if len(items) == 1 else AllOf(tuple(items))
