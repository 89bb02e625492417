"""The small set of SQL pieces the rules compiler is built from.

Values only ever reach SQL as bound parameters (``Bind``); identifiers only through
``quote_ident`` after an allowlist check. ``render`` shows a query with its parameters for humans.

>>> b = Bind()
>>> sql = "x = " + b("it's")
>>> sql, b.params
('x = $p0', {'p0': "it's"})
>>> quote_ident('tag:app')
'"tag:app"'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from costlens.sql import TAGGED, quote

_PLACEHOLDER = re.compile(r"\$(p[0-9]+)\b")


@dataclass
class Bind:
    """Collects parameter values; calling it returns the placeholder (``$p0``, ``$p1``...)."""

    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def used(self, sql: str) -> dict[str, Any]:
        """The parameters ``sql`` refers to (DuckDB rejects unused ones)."""
        names = set(_PLACEHOLDER.findall(sql))
        return {k: v for k, v in self.params.items() if k in names}


def quote_ident(name: str) -> str:
    """Quote an identifier of ours that has passed an allowlist (lower-case word characters and
    ':'); ``costlens.sql.quote`` with ``TAGGED``."""
    return quote(name, allow=TAGGED)


def tag_column(key: str) -> str:
    """The quoted column holding the value of normalized tag key ``key`` in the compiled query.

    Tag keys keep letters of every script (``costlens.tags``), so the name is quoted with its
    double quotes doubled rather than matched against an ASCII allowlist; it is never a value.

    >>> tag_column("コスト")
    '"tag:コスト"'
    """
    return quote(f"tag:{key}", allow=None)


def render(sql: str, params: dict[str, Any], marker: str = "$") -> str:
    """``sql`` followed by its parameters (``marker`` and name: ``$p0``, Spark's ``:p0``) as
    comments, for a human to read."""
    lines = [sql.rstrip(), "-- parameters:"] if params else [sql.rstrip()]
    lines += [f"--   {marker}{name} = {value!r}" for name, value in params.items()]
    return "\n".join(lines)
