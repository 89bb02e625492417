# ruff: noqa: S608  (generated SQL: allowlisted quoted identifiers and bound $-placeholders only)
"""Shared-cost splits as SQL: distribute selected costs to owners, conserving every 1e-10.

For each cost row a split selected (first matching split wins) and each cost column, the amount
``a`` in units of 1e-10 is divided by the targets' integer weights ``w_i`` (total ``W``):
every target gets ``floor(|a| * w_i / W)`` units, and the units left over (fewer than the number
of targets) go one each to the targets in the split's order (those with a positive weight). The
sign of ``a`` is applied afterwards, so credits (negative shared costs) are split with the same
weights. The shares of a row therefore sum to it exactly, and each is within one unit of its exact
proportion. (Largest remainders would pick other targets for the spare units, at the same 1e-10
precision, but need a per-row ranking that cost more than the rest of the attribution.)

Weights, per billing period: ``proportional`` — the target's direct cost in that period in the
split's ``cost_column`` (a target with zero or negative direct cost gets weight 0); ``even`` — 1
each; ``fixed`` — the given weights. Charges and credits of a split use the same weights, so a
credit goes back to the owners in proportion to the same spend as the charges it offsets.

When a proportional split's basis is empty (no target has positive direct cost in the period),
there is no spend to be proportional to: the cost stays with the owner ``unallocated``
(``allocation`` 'shared', ``basis`` 'unallocated', ``rule`` the split) rather than being spread
evenly. An even spread would hand a credit to owners without spend (an owner "earning" money)
and a charge to owners who may not use the shared thing; leaving it unallocated shows it, and
the coverage figures ask for a rule. ``proportional_weights`` is the Python twin of that choice.

Exactness needs ``|a| * w_i`` below 1.7e38 in units of 1e-10 (e.g. a 100 million dollar row
against 10 billion dollars of direct cost), far beyond any real bill.

The Python twin ``split_exact`` documents the arithmetic:

>>> split_exact(Decimal("0.0000000010"), [1, 1, 1])
[Decimal('4E-10'), Decimal('3E-10'), Decimal('3E-10')]
>>> split_exact(Decimal("-10"), [2, 1])
[Decimal('-6.6666666667'), Decimal('-3.3333333333')]
>>> split_exact(Decimal("0.0000000002"), [0, 1, 1, 1])
[Decimal('0E-10'), Decimal('1E-10'), Decimal('1E-10'), Decimal('0E-10')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from costlens.attribution._sql import Bind, quote_ident
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import RuleSet
from costlens.schema import COST_COLUMNS

__all__ = ["UNIT", "proportional_weights", "split_ctes", "split_exact"]

UNIT = Decimal("1E-10")
"""The smallest amount of money costlens splits: one unit of DECIMAL(18,10)."""

_SCALE = "10000000000"
_TO_DECIMAL = "CAST(0.0000000001 AS DECIMAL(10,10))"
"""One unit; a share's units are DECIMAL(27,0), so their product is DECIMAL(37,10) in DuckDB and
DECIMAL(38,10) in Spark, whose DECIMAL(38,0) x DECIMAL(11,10) would keep only 6 decimals."""


def split_exact(amount: Decimal, weights: Sequence[int]) -> list[Decimal]:
    """Split ``amount`` by integer ``weights`` in units of 1e-10; spare units in weight order."""
    units = int(abs(amount) / UNIT)
    total = sum(weights)
    raw = [units * w for w in weights]
    base = [r // total for r in raw]
    left = units - sum(base)
    for i in [i for i, w in enumerate(weights) if w > 0][:left]:
        base[i] += 1
    sign = -1 if amount < 0 else 1
    return [sign * b * UNIT for b in base]


def proportional_weights(direct: Mapping[str, Decimal]) -> dict[str, int]:
    """Integer weights (units of 1e-10) of a proportional split's targets, from each target's
    direct cost in the period; ``{"unallocated": 1}`` when none of them has positive cost.

    >>> proportional_weights({"a": Decimal("3"), "b": Decimal("-1"), "c": Decimal("1")})
    {'a': 30000000000, 'c': 10000000000}
    >>> proportional_weights({"a": Decimal("0"), "b": Decimal("-2")})
    {'unallocated': 1}
    """
    weights = {owner: int(cost / UNIT) for owner, cost in direct.items() if cost > 0}
    return {k: w for k, w in weights.items() if w > 0} or {UNALLOCATED: 1}


def _units(expr: str) -> str:
    return f"CAST(ABS({expr}) * {_SCALE} AS HUGEINT)"


def split_ctes(
    rules: RuleSet, bind: Bind, source: str, base_columns: Sequence[str], row_id: Sequence[str]
) -> str:
    """CTEs ``split_weights`` and ``split_shares`` over the CTEs ``source`` and ``direct_totals``.

    ``source`` has the rows to split, with ``_split`` (i = the i-th split), ``billing_period``,
    the cost columns, ``usage_amount`` and the ``row_id`` columns, which identify a row;
    ``direct_totals`` has the direct cost columns per ``billing_period`` and ``owner``.
    ``split_shares`` has the ``base_columns`` (except ``owner``), ``owner``, ``rule`` and the cost
    columns and ``usage_amount`` of every share.
    """
    targets: list[str] = []
    for i, split in enumerate(rules.splits, start=1):
        for rank, owner in enumerate(split.targets):
            fixed = (
                int(split.weights.get(owner, Decimal(0)) / UNIT) if split.method == "fixed" else 0
            )
            targets.append(
                f"({i}, {bind(owner)}, {bind(split.method)}, {bind(split.cost_column)}, "
                f"CAST({bind(str(fixed))} AS HUGEINT), {rank})"
            )
    pick = " ".join(f"WHEN '{c}' THEN d.{quote_ident(c)}" for c in COST_COLUMNS)
    carried = [
        *(c for c in base_columns if c != "owner"),
        *(c for c in row_id if c not in base_columns),
    ]
    cols = ", ".join(f"s.{quote_ident(c)}" for c in carried)
    ids = ", ".join(quote_ident(c) for c in row_id)
    on_id = " AND ".join(f"u.{quote_ident(c)} = l.{quote_ident(c)}" for c in row_id)
    amounts, bases, spare_sums, shares = [], [], [], []
    for c in COST_COLUMNS:
        q, units, base = quote_ident(c), quote_ident("_u_" + c), quote_ident("_base_" + c)
        amounts.append(
            f"{_units(quote_ident(c))} AS {units}, {q} < 0 AS {quote_ident('_neg_' + c)}"
        )
        bases.append(f"s.{units} * w.weight // w.total AS {base}")
        bases.append(f"s.{units}, s.{quote_ident('_neg_' + c)}")
        spare_sums.append(f"{units} - SUM({base}) AS {quote_ident('_spare_' + c)}")
        shares.append(
            f"CAST(CASE WHEN u.{quote_ident('_neg_' + c)} THEN -1 ELSE 1 END * "
            f"(u.{base} + CASE WHEN u._rank < l.{quote_ident('_spare_' + c)} THEN 1 ELSE 0 END)"
            f" AS DECIMAL(27,0)) * {_TO_DECIMAL} AS {q}"
        )
    keep = ", ".join(f"u.{quote_ident(c)}" for c in base_columns if c != "owner")
    unit_cols = ", ".join(quote_ident("_u_" + c) for c in COST_COLUMNS)
    unallocated = bind(UNALLOCATED)  # a proportional split without basis: see the module doc
    return f"""split_targets(split_id, owner, method, cost_column, fixed_units, target_rank) AS (
  VALUES {", ".join(targets)}
),
split_periods AS (
  SELECT DISTINCT billing_period, _split AS split_id FROM {source}
),
split_raw_weights AS (
  SELECT p.billing_period, t.split_id, t.owner, t.target_rank,
    CASE t.method
      WHEN 'fixed' THEN t.fixed_units
      WHEN 'even' THEN CAST(1 AS HUGEINT)
      ELSE GREATEST(COALESCE(CAST((CASE t.cost_column {pick} END) * {_SCALE} AS HUGEINT), 0), 0)
    END AS weight
  FROM split_periods p
  JOIN split_targets t USING (split_id)
  LEFT JOIN direct_totals d ON d.billing_period = p.billing_period AND d.owner = t.owner
),
split_weights AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY billing_period, split_id ORDER BY target_rank) - 1
      AS _rank
  FROM (
    SELECT billing_period, split_id, target_rank,
      CASE WHEN total_raw = 0 THEN {unallocated} ELSE owner END AS owner,
      CASE WHEN total_raw = 0 THEN CAST(1 AS HUGEINT) ELSE weight END AS weight,
      CASE WHEN total_raw = 0 THEN CAST(1 AS HUGEINT) ELSE total_raw END AS total
    FROM (
      SELECT *, SUM(weight) OVER (PARTITION BY billing_period, split_id) AS total_raw
      FROM split_raw_weights
    )
    WHERE CASE WHEN total_raw = 0 THEN target_rank = 0 ELSE weight > 0 END
  )
),
split_amounts AS (
  SELECT *, {", ".join(amounts)} FROM {source}
),
split_units AS MATERIALIZED (
  SELECT {cols}, w.owner AS owner, s._split, w._rank,
    s.usage_amount * CAST(w.weight AS DOUBLE) / CAST(w.total AS DOUBLE) AS usage_amount,
    {", ".join(bases)}
  FROM split_amounts s
  JOIN split_weights w ON w.billing_period = s.billing_period AND w.split_id = s._split
),
split_spare AS (
  SELECT {ids}, {", ".join(spare_sums)}
  FROM split_units GROUP BY {ids}, {unit_cols}
),
split_shares AS (
  SELECT {keep}, u.owner, u._split, u.usage_amount, {", ".join(shares)}
  FROM split_units u JOIN split_spare l ON {on_id}
)"""
