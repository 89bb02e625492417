"""The compiled attribution in other SQL dialects: DuckDB (as compiled), Spark SQL, Athena.

``compile_attribution`` writes DuckDB SQL from a small, portable subset (``costlens.attribution
.compile``). ``to_dialect`` parses it with sqlglot and rewrites the few constructs whose meaning
differs between engines before sqlglot prints it in the target dialect:

========================  ==========================  =======================================
DuckDB                    Spark SQL / Athena (Trino)  why
========================  ==========================  =======================================
``AS MATERIALIZED``       plain CTE                   a DuckDB planner hint only
``HUGEINT``               ``DECIMAL(38,0)``           no 128-bit integer; exact to 1e38
``a // b`` (integers)     ``(a - a % b) / b``         Spark's ``DIV`` wraps past 2^63
                                                      silently; Trino's ``/`` on DECIMAL rounds
``x GLOB p``              ``x RLIKE r``               no GLOB: ``globs.glob_regex(p)``, anchored
``list[i]``, ``map[k]``   ``element_at(list, i)``     Spark's ``[i]`` counts from 0; Trino's
                                                      ``map[k]`` fails on a missing key
``$p0`` parameters        Spark: ``:p0``              Athena views have no parameters: values
                          Athena: literals            printed as SQL literals by sqlglot
========================  ==========================  =======================================

Money stays exact: line-item costs are DECIMAL(18,10) in every engine, sums DECIMAL(38,10) (Spark
types a sum of DECIMAL(18,10) as DECIMAL(28,10), the same values), shares are DECIMAL(27,0) units
times ``1e-10`` (Spark keeps only 6 decimals of a DECIMAL(38,0) product). What differs, and is
documented in docs/scale.md: ``usage_amount`` is a DOUBLE summed in each engine's order (equal
to about 1e-12 relative, not bit for bit); regular expressions are RE2 in DuckDB and Java's in
Spark (the same for every pattern RE2 accepts but a few escapes, such as ``\\C`` and ``\\pN``);
Trino's ``trim`` removes all whitespace where DuckDB and Spark remove spaces only.

>>> from costlens.attribution._sql import Bind
>>> b = Bind()
>>> sql = f"SELECT [a, b][{b(2)}] AS x, resource_id GLOB {b('i-*')} AS g FROM t"
>>> q = CompiledQuery(sql, b.params)
>>> spark = to_dialect(q, "spark")
>>> spark.sql
'SELECT ELEMENT_AT(ARRAY(a, b), :p0) AS x, resource_id RLIKE :p1_re AS g FROM t'
>>> spark.params["p1_re"]
'(?s)\\\\Ai\\\\-.*\\\\z'
>>> print(to_dialect(q, "athena").sql)
SELECT ELEMENT_AT(ARRAY[a, b], 2) AS x, REGEXP_LIKE(resource_id, '(?s)\\Ai\\-.*\\z') AS g FROM t
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp

from costlens.attribution.compile import CompiledQuery
from costlens.attribution.globs import glob_regex
from costlens.errors import RuleError

__all__ = [
    "DIALECTS",
    "STAGE_PREFIX",
    "check_dialect",
    "literal",
    "normalization_to_spark",
    "spark_stages",
    "to_dialect",
]

DIALECTS = ("duckdb", "spark", "athena")
"""The dialects ``rules check --sql --dialect`` prints."""

_PLACEHOLDER = re.compile(r"\$(p[0-9]+)\b")


def literal(value: Any) -> exp.Expr:
    """``value`` (a bound parameter's) as an SQL literal expression; sqlglot escapes it for the
    dialect it prints."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        items = [literal(v) for v in value]
        if not items or all(isinstance(v, str) for v in value):  # typed even when empty
            return exp.cast(exp.Array(expressions=items), "ARRAY<VARCHAR>")
        return exp.Array(expressions=items)
    raise TypeError(f"no SQL literal for {type(value).__name__}")


class _Rewrite:
    """The node rewrites of one ``to_dialect`` call (they may add parameters)."""

    def __init__(self, params: dict[str, Any], inline: bool) -> None:
        self.params, self.inline = dict(params), inline

    def placeholder(self, name: str) -> exp.Expr:
        return literal(self.params[name]) if self.inline else exp.Placeholder(this=name)

    def __call__(self, node: exp.Expression) -> exp.Expr:
        if isinstance(node, exp.CTE) and node.args.get("materialized"):
            node.set("materialized", None)
        elif isinstance(node, exp.DataType) and node.is_type(exp.DataType.Type.INT128):
            return exp.DataType.build("DECIMAL(38,0)")
        elif isinstance(node, exp.Glob):
            pattern = node.expression
            if not isinstance(pattern, exp.Placeholder):
                raise RuleError(
                    "a GLOB whose pattern is not a bound value",
                    where="rules",
                    fix="this is a bug in costlens: please report it with `costlens rules check"
                    " --sql`",
                )
            name = f"{pattern.name}_re"
            self.params[name] = glob_regex(self.params[pattern.name])
            return exp.RegexpLike(this=node.this, expression=exp.Placeholder(this=name))
        elif isinstance(node, exp.IntDiv):
            a, b = node.this, node.expression
            exact = exp.Div(
                this=exp.Paren(
                    this=exp.Sub(this=a, expression=exp.Mod(this=a.copy(), expression=b))
                ),
                expression=b.copy(),
            )
            return exp.cast(exact, "DECIMAL(38,0)")
        return node


def check_dialect(dialect: str) -> None:
    """Raise ``RuleError`` unless ``dialect`` is one of ``DIALECTS``."""
    if dialect not in DIALECTS:
        raise RuleError(
            f"unknown SQL dialect {dialect!r}",
            where="--dialect",
            fix=f"use one of: {', '.join(DIALECTS)}",
        )


def _parse(query: CompiledQuery) -> exp.Expr:
    return sqlglot.parse_one(_PLACEHOLDER.sub(r":\1", query.sql), read="duckdb")


def _convert(
    tree: exp.Expr, params: dict[str, Any], dialect: str, *, pretty: bool = False
) -> CompiledQuery:
    """``tree`` (parsed DuckDB) rewritten and printed in ``dialect``, with its parameters."""
    rewrite = _Rewrite(params, inline=dialect == "athena")
    tree = tree.transform(rewrite)
    for bracket in reversed(list(tree.find_all(exp.Bracket, bfs=False))):  # inner ones first
        if len(bracket.expressions) == 1:
            index = bracket.expressions[0]
            bracket.replace(exp.Anonymous(this="element_at", expressions=[bracket.this, index]))
    if rewrite.inline:
        tree = tree.transform(
            lambda n: rewrite.placeholder(n.name) if isinstance(n, exp.Placeholder) else n
        )
    sql = tree.sql(dialect=dialect, pretty=pretty)  # sqlglot names them alike
    used = {p.name for p in tree.find_all(exp.Placeholder)}
    return CompiledQuery(sql, {k: v for k, v in rewrite.params.items() if k in used}, ":")


def to_dialect(query: CompiledQuery, dialect: str, *, pretty: bool = False) -> CompiledQuery:
    """``query`` (DuckDB, as compiled) in ``dialect`` (one of ``DIALECTS``), with the parameters
    the result refers to: ``:p0`` placeholders for Spark (``spark.sql(sql, args=params)``), none
    for Athena (values printed as literals, for a view)."""
    check_dialect(dialect)
    if dialect == "duckdb":
        return query
    return _convert(_parse(query), query.params, dialect, pretty=pretty)


STAGE_PREFIX = "_costlens_"
"""Prefix of the temporary views ``spark_stages`` names (``_costlens_resolved``)."""


def spark_stages(
    query: CompiledQuery, also: Sequence[str] = ()
) -> tuple[list[tuple[str, CompiledQuery]], CompiledQuery]:
    """``query`` in Spark SQL as stages: each CTE DuckDB materializes (``daily``, ``resolved``,
    ...) as its own query, to be cached as the temporary view ``STAGE_PREFIX + name`` (Spark
    would otherwise compute it again for each of its readers), then the query reading them.

    >>> q = CompiledQuery("WITH a AS MATERIALIZED (SELECT 1 AS x), b AS (SELECT * FROM a) "
    ...                   "SELECT * FROM b JOIN a USING (x)", {})
    >>> stages, final = spark_stages(q)
    >>> [(name, stage.sql) for name, stage in stages]
    [('_costlens_a', 'SELECT 1 AS x')]
    >>> final.sql
    'WITH b AS (SELECT * FROM _costlens_a) SELECT * FROM b JOIN _costlens_a USING (x)'
    """
    tree = _parse(query)
    with_ = tree.args.get("with_")
    ctes = list(with_.expressions) if isinstance(with_, exp.With) else []
    staged = {c.alias for c in ctes if c.args.get("materialized") or c.alias in also}
    for table in tree.find_all(exp.Table):
        if table.name in staged and not table.args.get("db"):
            table.set("this", exp.to_identifier(STAGE_PREFIX + table.name))
    stages, kept = [], []
    for cte in ctes:
        if cte.alias not in staged:
            kept.append(cte)
            continue
        body = cte.this.copy()
        if kept:
            body.set("with_", exp.With(expressions=[c.copy() for c in kept]))
        stages.append((STAGE_PREFIX + cte.alias, _convert(body, query.params, "spark")))
    if isinstance(with_, exp.With):
        with_.set("expressions", kept)
        if not kept:
            tree.set("with_", None)
    return stages, _convert(tree, query.params, "spark")


_SPARK_FUNCTIONS = {"map_extract_value": "element_at", "list_position": "array_position"}
"""DuckDB functions of the ingest normalization and their Spark twins (same arguments; both
count list positions from 1, and Spark's ``element_at`` gives NULL for a missing map key)."""


def _normalization_node(node: exp.Expression) -> exp.Expr:
    """One node of the ingest normalization (``ingest.formats``) rewritten for Spark."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in _SPARK_FUNCTIONS:
        return exp.Anonymous(this=_SPARK_FUNCTIONS[node.name.lower()], expressions=node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        utc: exp.Expr = node.expressions[1]  # a zoned timestamp read in a UTC session: its
        return utc  # UTC time
    empty_struct = isinstance(node, exp.ToMap) and isinstance(node.this, exp.Struct)
    if empty_struct and not node.this.expressions:
        empty = exp.Anonymous(this="map", expressions=[])  # DuckDB's MAP {}
        return exp.cast(empty, exp.DataType.build("MAP<STRING, STRING>", dialect="spark"))
    lam = node.expression if isinstance(node, exp.ArrayFilter) else None
    if isinstance(lam, exp.Lambda) and len(lam.expressions) == 2:
        index = lam.expressions[1].name  # DuckDB counts it from 1, Spark from 0
        lam.set(
            "this",
            lam.this.transform(
                lambda n: (
                    exp.Paren(this=exp.Add(this=n.copy(), expression=exp.Literal.number(1)))
                    if isinstance(n, exp.Identifier)
                    and n.name == index
                    and not isinstance(n.parent, exp.Dot)
                    else n
                )
            ),
        )
    return node


def normalization_to_spark(sql: str, reader: str, relation: str) -> str:
    """The ingest normalization ``sql`` (a format's DuckDB SELECT over the table function
    ``reader``, ``ingest.formats.readers``) in Spark SQL over the view ``relation``, its ``$name``
    parameters as Spark's ``:name``.

    >>> print(normalization_to_spark(
    ...     "SELECT map_extract_value(m, 'k') AS v, COALESCE(t, MAP {}) AS t, "
    ...     "list_filter(l, lambda e, i: list_position(l, e) = i) AS f FROM read_x($files)",
    ...     "read_x($files)", "lines"))
    SELECT ELEMENT_AT(m, 'k') AS v, COALESCE(t, CAST(MAP() AS MAP<STRING, STRING>)) AS t, \
FILTER(l, (e, i) -> ARRAY_POSITION(l, e) = (i + 1)) AS f FROM lines
    """
    assert reader in sql, "the SQL reads another table function"
    text = re.sub(r"\$([a-z_]+)\b", r":\1", sql.replace(reader, relation))
    tree = sqlglot.parse_one(text, read="duckdb")
    return tree.transform(_normalization_node).sql(dialect="spark")
