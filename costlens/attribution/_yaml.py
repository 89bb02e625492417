"""YAML with line numbers: composed PyYAML nodes turned into small typed wrappers.

Every value keeps the file and line it came from, so a validation error can say
``rules.yaml:12: unknown condition kind 'tags'``. Scalars keep their source text too, so money is
parsed exactly (``Decimal("12000.10")``), never through a float.

>>> doc = parse_yaml_text("a:\\n  - 1\\n  - x\\n", "f.yaml")
>>> doc.mapping()["a"].sequence()[1].text()
'x'
>>> doc.mapping()["a"].sequence()[1].where
'f.yaml:3'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor

from costlens.errors import RuleError

T = TypeVar("T")

_SCALAR_TAGS_TEXT = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
"""A number whose commas separate thousands (``1,234`` or ``12,000.50``)."""


@dataclass(frozen=True)
class YNode:
    """One YAML value with its position (``where`` is ``file:line``)."""

    node: yaml.Node
    file: str

    @property
    def line(self) -> int:
        """1-based line of the value."""
        return int(self.node.start_mark.line) + 1

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, message: str, fix: str) -> RuleError:
        """A ``RuleError`` pointing at this value."""
        return RuleError(message, where=self.where, fix=fix)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.node, yaml.SequenceNode)

    @property
    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    @property
    def is_null(self) -> bool:
        return self.is_scalar and self.node.tag == "tag:yaml.org,2002:null"

    def mapping(self, what: str = "a mapping") -> dict[str, YNode]:
        """The mapping's entries; duplicate or non-text keys are errors."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"expected {what}", "write `key: value` lines here")
        out: dict[str, YNode] = {}
        for key_node, value_node in self.node.value:
            key = YNode(key_node, self.file)
            if not isinstance(key_node, yaml.ScalarNode):
                raise key.error("a key must be plain text", "write the key as a word")
            name = str(key_node.value)
            if name in out:
                raise key.error(f"duplicate key {name!r}", "keep one of them")
            out[name] = YNode(value_node, self.file)
        return out

    def sequence(self, what: str = "a list") -> list[YNode]:
        """The list's items."""
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"expected {what}", "write a YAML list (`- item` lines or [a, b])")
        return [YNode(n, self.file) for n in self.node.value]

    def text(self, what: str = "text") -> str:
        """A scalar as its source text (numbers too, exactly as written)."""
        if not isinstance(self.node, yaml.ScalarNode) or self.is_null:
            raise self.error(f"expected {what}", "write a single value here")
        if self.node.tag not in _SCALAR_TAGS_TEXT and self.node.tag != "tag:yaml.org,2002:bool":
            raise self.error(f"expected {what}", "write a single value here")
        return str(self.node.value)

    def boolean(self) -> bool:
        """A YAML boolean (true/false)."""
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:bool":
            raise self.error("expected true or false", "write true or false")
        return bool(SafeConstructor().construct_object(self.node))

    def decimal(self, what: str = "a number") -> Decimal:
        """A number parsed exactly from its source text; commas only as thousands separators
        (``12,000.50``): ``1234,50`` (a decimal comma) would otherwise read as 123450."""
        written = self.text(what)
        if "," in written and not _THOUSANDS.match(written.replace("_", "")):
            raise self.error(
                f"expected {what}, got {written!r}: a comma only separates thousands",
                "write the decimals after a point, like 1234.50 (or 1,234.50)",
            )
        raw = written.replace("_", "").replace(",", "")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise self.error(
                f"expected {what}, got {raw!r}", "write digits like 12000.50"
            ) from None
        if not value.is_finite():
            raise self.error(f"expected {what}, got {raw!r}", "write a finite number")
        return value

    def text_list(self, what: str = "a list of text") -> list[str]:
        """A list of scalars, or one scalar as a one-item list."""
        if self.is_scalar:
            return [self.text(what)]
        return [item.text(what) for item in self.sequence(what)]

    def python(self) -> Any:
        """The plain Python value (for error messages)."""
        return SafeConstructor().construct_object(self.node, deep=True)


class RuleErrors(RuleError):
    """Several errors of one file, reported together: ``errors`` holds each ``RuleError`` (with
    its own ``where`` and ``fix``) in line order; ``str`` is a heading and one line per error.

    >>> errs = RuleErrors([RuleError("a", where="r.yaml:3"), RuleError("b", where="r.yaml:9")],
    ...                   "r.yaml")
    >>> print(errs)
    r.yaml: 2 errors. Fix: correct each one listed below
      r.yaml:3: a
      r.yaml:9: b
    """

    def __init__(self, errors: Sequence[RuleError], file: str) -> None:
        self.errors = tuple(errors)
        super().__init__(
            f"{len(self.errors)} errors", where=file, fix="correct each one listed below"
        )

    def __str__(self) -> str:
        return "\n".join([super().__str__(), *(f"  {e}" for e in self.errors)])

    def as_json(self) -> dict[str, Any]:
        """The heading as ``CostlensError.as_json``, plus ``errors``: each error's own."""
        out = super().as_json()
        out["error"]["errors"] = [e.as_json()["error"] for e in self.errors]
        return out


def _line_of(error: RuleError) -> int:
    tail = (error.where or "").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class ErrorLog:
    """Collects the errors of one file, so that a check reports every error at once."""

    def __init__(self) -> None:
        self.errors: list[RuleError] = []

    def add(self, error: RuleError) -> None:
        """Record ``error`` (each one of a ``RuleErrors``)."""
        for one in error.errors if isinstance(error, RuleErrors) else (error,):
            if str(one) not in {str(e) for e in self.errors}:
                self.errors.append(one)

    def attempt(self, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn(*args)``, or None when it raised a ``RuleError`` (recorded)."""
        try:
            return fn(*args)
        except RuleError as exc:
            self.add(exc)
            return None

    def raise_if_any(self, file: str) -> None:
        """Raise the one error recorded, or a ``RuleErrors`` with all of them in line order."""
        ordered = sorted(self.errors, key=_line_of)
        if len(ordered) == 1:
            raise ordered[0]
        if ordered:
            raise RuleErrors(ordered, file)


def check_keys(
    node: YNode, allowed: tuple[str, ...], what: str, log: ErrorLog | None = None
) -> dict[str, YNode]:
    """The mapping of ``node``, rejecting keys outside ``allowed`` (listing the valid ones).

    With ``log``, each unknown key is recorded there and left out, and the others are returned.
    """
    entries = node.mapping(what)
    for name, value in list(entries.items()):
        if name not in allowed:
            error = RuleError(
                f"unknown key {name!r} in {what}",
                where=_key_where(node, name, value),
                fix=f"use one of: {', '.join(allowed)}",
            )
            if log is None:
                raise error
            log.add(error)
            del entries[name]
    return entries


def _key_where(parent: YNode, name: str, value: YNode) -> str:
    for key_node, _ in parent.node.value:
        if key_node.value == name:
            return f"{parent.file}:{key_node.start_mark.line + 1}"
    return value.where


def parse_yaml_text(text: str, file: str) -> YNode:
    """Compose ``text`` into a ``YNode`` tree; syntax errors name the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RuleError(
            f"not valid YAML ({exc.problem})", where=f"{file}{line}", fix="correct the syntax there"
        ) from None
    except yaml.reader.ReaderError as exc:
        line_no = text.count("\n", 0, exc.position) + 1
        raise RuleError(
            f"not valid YAML text (character #x{exc.character:04x} is not allowed)",
            where=f"{file}:{line_no}",
            fix="save the file as UTF-8 text without control characters",
        ) from None
    if node is None:
        raise RuleError("the file is empty", where=file, fix="see docs/rules.md for an example")
    return YNode(node, file)


def read_file(path: Path) -> bytes:
    """The bytes of the rules or owners file at ``path`` (``RuleError`` when unreadable)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RuleError(
            f"cannot read the file ({exc.strerror})",
            where=str(path),
            fix="check the path (settings `rules` / `owners`, or the command's argument)",
        ) from None
