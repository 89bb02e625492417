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

The ingest normalization is printed for Spark by ``normalization_to_spark`` (``costlens
attribute --engine spark``), and the whole attribution over a CUR table, normalization included,
by ``over_cur_table`` (``costlens athena-view`` and its Spark twin); docs/scale.md lists their
rewrites.

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
    "over_cur_table",
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


_ROW_OF_ENTRY = "ROW(key VARCHAR, value VARCHAR)"


def _trino_values(node: exp.Expression) -> exp.Expr:
    """The ingest normalization's functions and values in Trino (Athena): as for Spark, a
    zoned timestamp at UTC, entries as typed rows (Trino's untyped rows have no field names)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        return exp.AtTimeZone(this=node.expressions[1], zone=node.expressions[0])
    if isinstance(node, exp.Struct) and len(node.expressions) == 2:
        values = [e.expression if isinstance(e, exp.PropertyEQ) else e for e in node.expressions]
        row = exp.Anonymous(this="ROW", expressions=values)
        return exp.cast(row, exp.DataType.build(_ROW_OF_ENTRY, dialect="trino"))
    if isinstance(node, exp.ArrayFilter):
        return node  # (Spark's index rewrite: Trino has none, see _trino_lists)
    return _normalization_node(node)


def _kv_lambda(body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier("k"), exp.to_identifier("v")])


def _trino_lists(node: exp.Expression) -> exp.Expr:
    """The normalization's list work in Trino: a map's entries by ``zip_with`` of its keys and
    values (the rows of Trino's ``map_entries`` have no field names), the first entry of each
    key by ``multimap_from_entries`` (Trino's ``filter`` passes no index)."""
    source = node.this if isinstance(node, exp.Transform) else None
    lam = node.expression if isinstance(node, exp.Transform) else None
    if (
        isinstance(source, exp.Anonymous)
        and source.name.lower() == "map_entries"
        and isinstance(lam, exp.Lambda)
    ):
        (param,) = [p.name for p in lam.expressions]

        def field(n: exp.Expression) -> exp.Expression:
            if isinstance(n, exp.Dot) and n.this.name == param and n.name in ("key", "value"):
                return exp.column("k" if n.name == "key" else "v")
            return n

        the_map = source.expressions[0]
        keys = exp.Anonymous(this="map_keys", expressions=[the_map.copy()])
        values = exp.Anonymous(this="map_values", expressions=[the_map.copy()])
        return exp.Anonymous(
            this="zip_with", expressions=[keys, values, _kv_lambda(lam.this.transform(field))]
        )
    inner = node.this if isinstance(node, exp.MapFromEntries) else None
    if (
        isinstance(inner, exp.ArrayFilter)
        and isinstance(inner.expression, exp.Lambda)
        and len(inner.expression.expressions) == 2
    ):
        first = exp.Anonymous(
            this="element_at", expressions=[exp.column("v"), exp.Literal.number(1)]
        )
        multimap = exp.Anonymous(this="multimap_from_entries", expressions=[inner.this])
        return exp.Anonymous(this="transform_values", expressions=[multimap, _kv_lambda(first)])
    return node


def _description_key(columns: Sequence[str]) -> str:
    """A line's key in a view: the text of its description (the ``KEY_COLUMNS``, tags sorted
    by key), which every engine computes alike. (``costlens.line_keys`` hashes the same columns
    with DuckDB's ``hash``, which no other engine computes.)"""
    text = [f"CAST({c} AS VARCHAR)" if c == "billing_period" else c for c in columns]
    tags = (
        "array_to_string(list_sort(list_transform(map_keys(tags), "
        "lambda k: k || chr(30) || tags[k])), chr(29))"
    )
    return f"concat_ws(chr(31), {', '.join(c for c in text if c != 'tags')}, {tags})"


def over_cur_table(
    normalization: str,
    reader: str,
    params: dict[str, Any],
    query: CompiledQuery,
    table: str,
    key_columns: Sequence[str],
    dialect: str,
    *,
    pretty: bool = False,
) -> CompiledQuery:
    """The attribution ``query`` over a CUR table ``table`` in ``dialect`` (spark or athena):
    its ``line_items`` the ingest ``normalization`` (a format's DuckDB SELECT over the table
    function ``reader``, with ``params``) of the table's rows, its ``line_keys`` one row per
    description, keyed by ``_description_key``."""
    assert dialect in ("spark", "athena")
    norm = re.sub(r"\$([a-z_]+)\b", r":\1", normalization.replace(reader, "__cur_table__"))
    columns = ", ".join(key_columns)
    prefix = (
        f"WITH line_items AS (SELECT *, CAST(NULL AS VARCHAR) AS delivery_id, "  # noqa: S608
        f"CAST(NULL AS BIGINT) AS source_lines, {_description_key(key_columns)} AS line_key "
        f"FROM ({norm})), "
        f"line_keys AS (SELECT line_key, {columns} FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY line_key ORDER BY line_key) AS _n FROM line_items) WHERE _n = 1) "
        "SELECT 1"
    )
    head = sqlglot.parse_one(prefix, read="duckdb")
    tree = _parse(query)
    with_ = tree.args.get("with_")
    assert isinstance(with_, exp.With), "the compiled attribution starts with its CTEs"
    ctes = head.args["with_"].expressions
    with_.set("expressions", [*ctes, *with_.expressions])
    for t in tree.find_all(exp.Table):
        if t.name == "__cur_table__":
            t.replace(exp.to_table(table))
    if dialect == "athena":
        tree = tree.transform(_trino_values).transform(_trino_lists)
    else:
        tree = tree.transform(_normalization_node)
    return _convert(tree, {**query.params, **params}, dialect, pretty=pretty)
