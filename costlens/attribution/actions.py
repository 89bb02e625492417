"""Actions: what a matching rule sets each dimension to.

A value is a literal (``payments-api``) or a template that inherits from the line item:
``{tag:app | App | service}`` (first non-empty tag among the aliases), ``{account_name}``,
``{account_id}``, ``{service}``, ``{region}``; literals and inherited parts may be mixed
(``team-{tag:team}``). If an inherited part is missing the rule does not set that dimension, and
later rules get their turn. Inherited values are normalized: an alias map such as
``"payments team": payments`` (matched trimmed and case-insensitively; the value kept is the
alias's target as written), else trim and lower case as configured; see ``Normalize``.

>>> t = parse_template_text("{tag:App | service}", "rules.yaml:3")
>>> sorted(t.tag_keys()), t.is_literal
(['app', 'service'], False)
>>> Normalize(aliases={"payments team": "payments"}).apply("  Payments Team ")
'payments'
>>> keep_case = Normalize(lower=False, aliases={"Base Load": "baseload"})
>>> keep_case.apply(" base LOAD"), keep_case.apply("Cost002 ")
('baseload', 'Cost002')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from costlens.attribution._sql import Bind, quote_ident
from costlens.attribution.conditions import tag_value_sql
from costlens.errors import RuleError
from costlens.tags import normalize_tag_key

__all__ = [
    "VALUE_SOURCES",
    "Inherit",
    "Normalize",
    "ValueSource",
    "ValueTemplate",
    "alias_key",
    "parse_template_text",
]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def alias_key(value: str) -> str:
    """How an alias is matched: trimmed and case-insensitively (``" Base Load"`` is
    ``"base load"``), whatever ``trim`` and ``lower`` say about the value kept."""
    return value.strip().lower()


@dataclass(frozen=True)
class Normalize:
    """How inherited values are cleaned: a value matching one of ``aliases`` (``alias_key``)
    becomes that alias's target as written; any other value is trimmed and lower-cased as
    ``trim`` and ``lower`` say. So ``lower: false`` keeps ``Cost002`` as delivered and still
    lets ``"Base Load"`` match the alias ``base load``."""

    trim: bool = True
    lower: bool = True
    aliases: dict[str, str] = field(default_factory=dict)

    def clean(self, value: str) -> str:
        """Trim and lower-case as configured: the value kept when no alias matches."""
        value = value.strip() if self.trim else value
        return value.lower() if self.lower else value

    def alias_map(self) -> dict[str, str]:
        """``{alias_key(alias): target}`` (the rules parser refuses two aliases with one key)."""
        return {alias_key(k): v for k, v in self.aliases.items()}

    def apply(self, value: str) -> str:
        """The normalized value (Python twin of ``sql``)."""
        return self.alias_map().get(alias_key(value), self.clean(value))

    def sql(self, expr: str, bind: Bind) -> str:
        """SQL of the normalized ``expr``; '' becomes NULL."""
        out = f"trim({expr})" if self.trim else expr
        out = f"lower({out})" if self.lower else out
        if self.aliases:
            aliases = self.alias_map()
            keys, values = bind(list(aliases)), bind(list(aliases.values()))
            out = f"COALESCE(map({keys}, {values})[lower(trim({expr}))], {out})"
        return f"NULLIF({out}, '')"


@dataclass(frozen=True)
class ValueSource:
    """A registered source of inherited values: ``{name}`` or ``{name:argument}``."""

    name: str
    column: str | None
    doc: str


VALUE_SOURCES: dict[str, ValueSource] = {
    s.name: s
    for s in (
        ValueSource("tag", None, "A tag's value: ``{tag:app | App | service}`` (aliases)."),
        ValueSource("account_name", "account_name", "The usage account's name."),
        ValueSource("account_id", "account_id", "The usage account's id."),
        ValueSource("service", "service_code", "The AWS product code (AmazonEC2)."),
        ValueSource("region", "region", "The region code."),
    )
}
"""Every ``{...}`` source a value template may inherit from."""


@dataclass(frozen=True)
class Inherit:
    """An inherited part of a template: a tag (with aliases) or a column."""

    source: str
    tag_keys: tuple[str, ...] = ()

    def sql(self) -> str:
        if self.source == "tag":
            return tag_value_sql(self.tag_keys)
        column = VALUE_SOURCES[self.source].column
        assert column is not None
        return f"NULLIF({quote_ident(column)}, '')"

    def describe(self) -> str:
        return (
            f"{{tag:{' | '.join(self.tag_keys)}}}" if self.source == "tag" else f"{{{self.source}}}"
        )


@dataclass(frozen=True)
class ValueTemplate:
    """A dimension value: literal text and inherited parts, concatenated."""

    parts: tuple[str | Inherit, ...]
    source_text: str

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def literal(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))

    def tag_keys(self) -> set[str]:
        return {k for p in self.parts if isinstance(p, Inherit) for k in p.tag_keys}

    def columns(self) -> set[str]:
        return {
            c
            for p in self.parts
            if isinstance(p, Inherit) and (c := VALUE_SOURCES[p.source].column) is not None
        }

    def inherits_tag(self) -> bool:
        return any(isinstance(p, Inherit) and p.source == "tag" for p in self.parts)

    def sql(self, bind: Bind, normalize: Normalize) -> str:
        """SQL of the value: NULL when an inherited part is missing."""
        if self.is_literal:
            return bind(self.literal)
        pieces = [bind(p) if isinstance(p, str) else p.sql() for p in self.parts]
        return normalize.sql(" || ".join(pieces), bind)

    def python_value(self, row: dict[str, str | None], normalize: Normalize) -> str | None:
        """The value for one line item given as ``{column or 'tag:key': value}`` (explain)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            keys = [f"tag:{k}" for k in part.tag_keys] or [VALUE_SOURCES[part.source].column or ""]
            found = next((row[k] for k in keys if row.get(k)), None)
            if found is None:
                return None
            out.append(found)
        value = "".join(out)
        return value if self.is_literal else (normalize.apply(value) or None)


def _inherit(inner: str, where: str) -> Inherit:
    name, _, argument = inner.partition(":")
    name = name.strip()
    if name not in VALUE_SOURCES:
        raise RuleError(
            f"unknown value source {{{inner}}}",
            where=where,
            fix=f"use one of: {', '.join('{' + s + '}' for s in VALUE_SOURCES)} ({{tag:KEY}})",
        )
    if name != "tag":
        if argument:
            raise RuleError(f"{{{name}}} takes no argument", where=where, fix=f"write {{{name}}}")
        return Inherit(name)
    keys = tuple(dict.fromkeys(normalize_tag_key(k) for k in argument.split("|")))
    if not argument.strip() or not all(keys):
        raise RuleError(
            f"{{{inner}}} names no tag key", where=where, fix="write {tag:app} or {tag:app | App}"
        )
    return Inherit("tag", keys)


def parse_template_text(text: str, where: str) -> ValueTemplate:
    """Parse a dimension value such as ``{tag:app}`` or ``team-{tag:team}``."""
    parts: list[str | Inherit] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        parts.append(_inherit(m.group(1), where))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    if any(isinstance(p, str) and ("{" in p or "}" in p) for p in parts):
        raise RuleError(
            f"unbalanced braces in {text!r}", where=where, fix="write {tag:KEY} with both braces"
        )
    if not text.strip():
        raise RuleError("empty value", where=where, fix="write a value or a {tag:KEY} template")
    return ValueTemplate(tuple(parts), text)
