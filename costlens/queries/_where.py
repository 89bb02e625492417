"""The one WHERE-clause builder of the read API: SQL fragments with their bound parameters.

Only fragments of ours (fixed column names, or columns from ``dimension_column``'s allowlist)
go into the SQL text; every value is a parameter.

>>> w = Where().dates(None, None).equals("dimension", "dimension", "owner")
>>> w.among('"value"', "w0", ["a", "b"]).sql(), w.params
('dimension = $dimension AND "value" IN ($w0_0, $w0_1)', {'dimension': 'owner', 'w0_0': 'a', \
'w0_1': 'b'})
>>> Where().among('"owner"', "w0", []).sql(), Where().sql()
('FALSE', 'TRUE')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Where"]


@dataclass
class Where:
    """Clauses joined by AND (``TRUE`` when there is none), and their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> Where:
        """A fixed clause of ours, with the parameters it names."""
        self.clauses.append(clause)
        self.params.update(params)
        return self

    def equals(self, column: str, name: str, value: Any) -> Where:
        """``column = $name``."""
        return self.add(f"{column} = ${name}", **{name: value})

    def among(self, column: str, prefix: str, values: Sequence[Any] | str) -> Where:
        """``column IN ($prefix_0, ...)``; ``FALSE`` for no value (nothing matches)."""
        items = [values] if isinstance(values, str) else list(values)
        names = [f"{prefix}_{j}" for j in range(len(items))]
        self.params.update({n: str(v) for n, v in zip(names, items, strict=True)})
        placeholders = ", ".join(f"${n}" for n in names)
        self.clauses.append(f"{column} IN ({placeholders})" if names else "FALSE")
        return self

    def dates(self, start: dt.date | None, end: dt.date | None) -> Where:
        """``usage_date`` between ``start`` and ``end`` (inclusive; None: unbounded)."""
        if start is not None:
            self.add("usage_date >= $start", start=start)
        if end is not None:
            self.add("usage_date <= $end", end=end)
        return self

    def sql(self) -> str:
        """The clauses joined by AND, ``TRUE`` when there is none."""
        return " AND ".join(self.clauses) or "TRUE"
