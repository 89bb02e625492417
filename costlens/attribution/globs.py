"""Glob patterns of the rules, and their twin as a regular expression for engines without GLOB.

A rule's ``glob`` is DuckDB's GLOB: ``*`` any text, ``?`` one character, ``[abc]`` / ``[a-z]`` /
``[!abc]`` one character of (or not of) a class, ``\\`` makes the next character literal; the
whole value must match, case-sensitively. Spark and Trino have no GLOB, so there the compiler
uses ``glob_regex`` (a Java regular expression, also valid RE2) instead; ``tests`` check both
give the same verdicts as DuckDB's GLOB.

A pattern DuckDB would never let match (a ``[`` without its ``]``, a trailing ``\\``) is refused
when the rules are parsed (``glob_problem``), so no rule silently matches nothing.

>>> print(glob_regex("NatGateway*"))
(?s)\\ANatGateway.*\\z
>>> print(glob_regex("*:cluster/[!x]?.[a-c]"))
(?s)\\A.*:cluster/[^x].\\.[a-c]\\z
>>> glob_problem("i-[0-9")
('a `[` without its closing `]`', 'close the class, or write `[[]` for a literal `[`')
"""

from __future__ import annotations

__all__ = ["GlobError", "glob_problem", "glob_regex"]

_SPECIAL = set("\\^$.|?*+()[]{}-&~#")
"""Characters escaped in the regex (Java's and RE2's metacharacters, inside classes too)."""


_NOTHING = "[^\\x00-\\x{10FFFF}]"
"""A class no character belongs to (neither RE2 nor Java accepts ``[]``)."""


def _literal(char: str) -> str:
    return "\\" + char if char in _SPECIAL else char


def _class(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex class of the bracket opening at ``start`` and the index after it, or None
    when it is not closed."""
    i, negate = start + 1, False
    if i < len(pattern) and pattern[i] == "!":
        negate, i = True, i + 1
    first, members = i, list[str]()
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and i > first:
            if not members:  # only inverted ranges: a class of nothing
                return ("[\\x00-\\x{10FFFF}]" if negate else _NOTHING), i + 1
            return f"[{'^' if negate else ''}{''.join(members)}]", i + 1
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            low, high = char, pattern[i + 2]
            if low <= high:  # an inverted range holds nothing
                members.append(f"{_literal(low)}-{_literal(high)}")
            i += 3
        else:
            members.append(_literal(char))
            i += 1
    return None


class GlobError(ValueError):
    """A glob DuckDB can never let match: ``problem`` and ``fix``, for the rules parser."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def glob_problem(pattern: str) -> tuple[str, str] | None:
    """Why ``pattern`` can never match in DuckDB and how to fix it, or None when it is a
    well-formed glob."""
    try:
        glob_regex(pattern)
    except GlobError as exc:
        return exc.problem, exc.fix
    return None


def glob_regex(pattern: str) -> str:
    """The regular expression that finds (``RLIKE``, ``regexp_like``) exactly the values the
    glob ``pattern`` matches: anchored with ``\\A`` and ``\\z`` (Java's ``$`` would also match
    before a final newline). Raises ``GlobError`` for a pattern that can never match."""
    out, i = ["(?s)\\A"], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
            while i + 1 < len(pattern) and pattern[i + 1] == "*":
                i += 1
        elif char == "?":
            out.append(".")
        elif char == "\\":
            if i + 1 == len(pattern):
                raise GlobError("a trailing `\\`", "write `[\\]` for a literal backslash")
            i += 1
            out.append(_literal(pattern[i]))
        elif char == "[":
            found = _class(pattern, i)
            if found is None:
                raise GlobError(
                    "a `[` without its closing `]`",
                    "close the class, or write `[[]` for a literal `[`",
                )
            out.append(found[0])
            i = found[1] - 1
        else:
            out.append(_literal(char))
        i += 1
    return "".join(out) + "\\z"
