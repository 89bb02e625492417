"""``costlens rules check|explain|preview`` and ``costlens attribute``."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, parse_month, record_json, settings
from costlens.config import Settings
from costlens.errors import RuleError
from costlens.progress import terminal_progress

__all__ = ["register"]

rules_app = typer.Typer(
    name="rules", help="Check, explain and preview the attribution rules.", no_args_is_help=True
)


def _months(texts: list[str] | None) -> list[date] | None:
    if not texts:
        return None
    return [parse_month(text, "--period", RuleError) for text in texts]


def _tag_key_state(cfg: Settings) -> tuple[list[Any], int]:
    """The warehouse's tag-key collisions and its deliveries named by an older rule (none
    without a warehouse: ``rules check`` also runs before the first ingest)."""
    from costlens.tags import deliveries_named_by_older_rule, warehouse_tag_key_collisions
    from costlens.warehouse import open_warehouse

    if not cfg.warehouse_path.is_file():
        return [], 0
    with open_warehouse(cfg.data_dir, read_only=True) as wh:
        return warehouse_tag_key_collisions(wh.con), deliveries_named_by_older_rule(wh.con)


def _load(cfg: Settings, rules: Path | None = None, owners: Path | None = None) -> Any:
    from costlens.attribution import load_owners, load_rules

    return load_rules(rules or cfg.rules, load_owners(owners or cfg.owners))


RulesOpt = Annotated[Path | None, typer.Option("--rules", help="rules.yaml (default: settings).")]
OwnersOpt = Annotated[
    Path | None, typer.Option("--owners", help="owners.yaml (default: settings).")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON.", callback=record_json)
]
PeriodOpt = Annotated[
    list[str] | None, typer.Option("--period", "-p", help="Billing month YYYY-MM (repeatable).")
]


@rules_app.command("check")
def check_command(
    ctx: typer.Context,
    rules: RulesOpt = None,
    owners: OwnersOpt = None,
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the compiled SQL (with --json: its sql field).")
    ] = False,
    dialect: Annotated[
        str,
        typer.Option(
            "--dialect",
            help="SQL dialect of --sql: duckdb (what runs here), spark or athena.",
            metavar="duckdb|spark|athena",
        ),
    ] = "duckdb",
    json_output: JsonOpt = False,
) -> None:
    """Validate rules.yaml and owners.yaml (every error with its file and line)."""
    from costlens.attribution import compile_attribution
    from costlens.attribution.dialects import check_dialect, to_dialect

    check_dialect(dialect)  # before the rules are read: a typo fails at once

    rs = _load(settings(ctx), rules, owners)
    summary = {
        "rules_file": rs.path,
        "owners_file": rs.owners.path,
        "version": rs.version,
        "rules": len(rs.rules),
        "splits": len(rs.splits),
        "dimensions": list(rs.all_dimensions()),
        "owners": len(rs.owners.owners),
        "microservices": len(rs.owners.microservices),
    }
    collisions, older = _tag_key_state(settings(ctx))
    summary["tag_key_collisions"] = [c.as_dict() for c in collisions]
    summary["deliveries_on_older_tag_rule"] = older
    sql = sql or dialect != "duckdb"
    compiled_sql = (
        to_dialect(compile_attribution(rs), dialect, pretty=True).render() if sql else None
    )
    if json_output:
        emit_json(summary if compiled_sql is None else {**summary, "sql": compiled_sql})
        return
    console.print(
        f"ok: {rs.path}: {summary['rules']} rules, {summary['splits']} splits, dimensions "
        f"{', '.join(rs.all_dimensions())}; {rs.owners.path}: {summary['owners']} owners, "
        f"{summary['microservices']} microservices; version {rs.version}"
    )
    for c in collisions:
        periods = ", ".join(f"{p:%Y-%m}" for p in c.periods)
        console.print(
            f"warning: {c.message()}" + (f" (billing periods {periods})" if periods else "")
        )
    if older:
        console.print(
            f"note: {older} deliveries were loaded with an older tag-key rule: the next "
            "`costlens sync` re-checks them (and reloads those whose tag names change)"
        )
    if compiled_sql is not None:
        typer.echo(compiled_sql)


@rules_app.command("explain")
def explain_command(
    ctx: typer.Context,
    resource: Annotated[str, typer.Option("--resource", "-r", help="Resource id (or ARN).")],
    rules: RulesOpt = None,
    owners: OwnersOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Explain which rule set each dimension of a resource's cost, and why earlier rules did not."""
    from costlens.attribution.explain import explain_resource
    from costlens.warehouse import open_warehouse

    cfg = settings(ctx)
    rs = _load(cfg, rules, owners)
    with open_warehouse(cfg.data_dir, read_only=True) as wh:
        explanations = explain_resource(wh.con, rs, resource)
    if json_output:
        emit_json(
            [
                {
                    "attributes": e.attributes,
                    "unblended_cost": e.unblended_cost,
                    "decisions": [d.__dict__ for d in e.decisions],
                    "rules": [c.__dict__ for c in e.checks],
                    "split": e.split,
                }
                for e in explanations
            ]
        )
        return
    for e in explanations:
        typer.echo("\n".join(e.lines()))


@rules_app.command("preview")
def preview_command(
    ctx: typer.Context,
    new_rules: Annotated[Path, typer.Argument(help="The changed rules.yaml to compare.")],
    new_owners: Annotated[
        Path | None, typer.Option("--new-owners", help="A changed owners.yaml to use with it.")
    ] = None,
    period: PeriodOpt = None,
    cost_type: Annotated[
        str,
        typer.Option(
            "--cost-type",
            "--cost-column",
            help="Cost type to compare: unblended, amortized or net_amortized (the older "
            "--cost-column amortized_cost spelling works too).",
        ),
    ] = "amortized",
    limit: Annotated[int, typer.Option(help="Rows to show per dimension.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """Per-owner and per-microservice cost deltas of NEW_RULES against the current rules."""
    from costlens.attribution import load_owners, load_rules
    from costlens.attribution.preview import preview_rules
    from costlens.warehouse import open_warehouse

    cfg = settings(ctx)
    cost_column = cost_type if cost_type.endswith("_cost") else f"{cost_type}_cost"
    current = _load(cfg)
    new = load_rules(new_rules, load_owners(new_owners) if new_owners else current.owners)
    periods = _months(period)
    with open_warehouse(cfg.data_dir, read_only=True) as wh:
        _check_periods_loaded(wh.con, periods)  # a mistyped month is no "no change"
        result = preview_rules(wh.con, current, new, periods=periods, cost_column=cost_column)
    if json_output:
        emit_json(
            [
                {"dimension": d.dimension, "value": d.value, "current": d.current, "new": d.new,
                 "delta": d.delta}
                for d in result.changed()
            ]
        )  # fmt: skip
        return
    changed = result.changed()
    if not changed:
        console.print(f"no change: every owner and microservice keeps its {cost_column}")
        return
    for dim in ("owner", "microservice"):
        rows = [d for d in changed if d.dimension == dim][:limit]
        console.print(f"{dim}s changed ({cost_column}):")
        for d in rows:
            console.print(f"  {d.value:<28} {d.current:>16.2f} -> {d.new:>16.2f}  ({d.delta:+.2f})")


_LOADED_PERIODS = "SELECT DISTINCT billing_period FROM line_items ORDER BY billing_period"


def _check_periods_loaded(con: Any, periods: list[date] | None) -> None:
    """Refuse a ``--period`` without line items (a mistyped month would attribute nothing)."""
    if not periods:
        return
    loaded = [row[0] for row in con.execute(_LOADED_PERIODS).fetchall()]
    missing = [p for p in periods if p not in loaded]
    if not missing:
        return
    names = ", ".join(f"{p:%Y-%m}" for p in missing)
    raise RuleError(
        f"no line items in billing period {names}",
        where="--period",
        fix="use one of " + ", ".join(f"{p:%Y-%m}" for p in loaded)
        if loaded
        else "the warehouse has no line items yet: run `costlens sync` (or `costlens ingest`)",
    )


def attribute_command(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Argument(
            help="With --engine spark: the export to read and attribute there (a configured "
            "source's name or a folder; default: every configured source).",
            show_default=False,
        ),
    ] = None,
    period: PeriodOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="duckdb: re-attribute the warehouse's line items here. spark: read SOURCE on "
            "Spark ([engine] spark_remote, a spark-submit's session or a local one), attribute "
            "it there and bring home the daily lines and allocations (docs/scale.md).",
        ),
    ] = "duckdb",
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="With --engine spark: as `ingest --replace`, let these deliveries replace "
            "another source's or report's deliveries of the same bill.",
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Re-apply the rules: rewrite allocations (all periods, or --period) and record the version;
    with --engine spark, read and attribute an export on Spark."""
    from costlens.attribution import attribute
    from costlens.attribution.versions import ensure_state_database, record_rule_set_version
    from costlens.engines import check_engine
    from costlens.warehouse import open_warehouse

    cfg = settings(ctx)
    check_engine(engine)
    rs = _load(cfg)
    periods = _months(period)
    if engine == "spark":
        _attribute_on_spark(cfg, rs, source, periods, replace, json_output)
        return
    if source is not None or replace:
        raise RuleError(
            f"{'SOURCE' if source is not None else '--replace'} is for --engine spark",
            where=source or "--replace",
            fix=f"run `costlens ingest {source or 'SOURCE'}` then `costlens attribute`, or add "
            "--engine spark",
        )
    progress = terminal_progress() if not json_output else None
    hourly = cfg.anomalies.hourly_window
    with open_warehouse(cfg.data_dir) as wh:
        _check_periods_loaded(wh.con, periods)
        ensure_state_database(cfg.state_database_url)  # before anything is rewritten
        if progress is not None:
            with progress.task("attribute", total=1) as task:
                result = attribute(wh, rs, periods=periods, hourly_days=hourly)
                task.advance()
        else:
            result = attribute(wh, rs, periods=periods, hourly_days=hourly)
    record_rule_set_version(
        cfg.state_database_url, rs, periods=None if result.rebuilt else periods, rows=result.rows
    )
    summary = {
        "rule_version": result.rule_version,
        "periods": [str(p) for p in result.periods],
        "rows": result.rows,
        "totals": result.totals,
        "unallocated": result.unallocated,
        "unallocated_share": float(result.unallocated_share()),
        "charges": result.charges,
        "unallocated_charges": result.unallocated_charges,
        "seconds": round(result.seconds, 3),
        "notes": result.notes,
    }
    if json_output:
        emit_json(summary)
        return
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(
        f"attributed {len(result.periods)} period(s), {result.rows:,} allocation rows, "
        f"{result.describe_unallocated()}; "
        f"rule version {result.rule_version} ({result.seconds:.1f}s)"
    )


def _attribute_on_spark(
    cfg: Settings,
    rs: Any,
    source: str | None,
    periods: list[date] | None,
    replace: bool,
    json_output: bool,
) -> None:
    from costlens.attribution.versions import ensure_state_database, record_rule_set_version
    from costlens.engines.spark import spark_session
    from ingest.on_spark import attribute_on_spark

    ensure_state_database(cfg.state_database_url)
    session = spark_session(cfg.engine.spark_remote)
    progress = terminal_progress() if not json_output else None
    run = attribute_on_spark(
        cfg, rs, session, source, periods=periods, replace=replace, progress=progress
    )
    record_rule_set_version(cfg.state_database_url, rs, periods=list(run.periods), rows=run.rows)
    summary = {
        "engine": "spark",
        "rule_version": rs.version,
        "periods": [str(p) for p in run.periods],
        "rows": run.rows,
        "deliveries": [d.as_dict() for d in run.loaded],
        "notes": [n for r in run.attributed for n in r.notes],
        "step_seconds": {k: round(v, 3) for k, v in run.seconds.items()},
    }
    if json_output:
        emit_json(summary)
        return
    for note in summary["notes"]:
        console.print(f"note: {note}")
    for d in run.loaded:
        console.print(
            f"{d.report} {d.period:%Y-%m}: {d.lines:,} line items read on Spark, brought home as "
            f"{d.rows:,} daily rows ({d.status})"
        )
    seconds = sum(run.seconds.values())
    console.print(
        f"attributed {len(run.periods)} period(s) on Spark, {run.rows:,} allocation rows; "
        f"rule version {rs.version} ({seconds:.1f}s)"
    )


_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


def _table_name(value: str, option: str) -> str:
    if not _TABLE_NAME.fullmatch(value):
        raise RuleError(
            f"{value!r} is not a table name",
            where=option,
            fix="write NAME, DATABASE.NAME or CATALOG.DATABASE.NAME (letters, digits, '_')",
        )
    return value


def athena_view_command(
    ctx: typer.Context,
    sample: Annotated[
        Path,
        typer.Argument(
            help="A Parquet file of the export the table reads (or its folder): its columns, "
            "format and tag keys.",
            show_default=False,
        ),
    ],
    table: Annotated[
        str, typer.Option("--table", help="The CUR table in Athena, e.g. cid_cur.cur2.")
    ],
    view: Annotated[str, typer.Option("--view", help="The view's name.")] = "costlens_allocations",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the SQL to this file (default: print it).")
    ] = None,
) -> None:
    """Write CREATE OR REPLACE VIEW over a CUR table in Athena: costlens's attribution there."""
    from ingest.athena import create_view_sql

    cfg = settings(ctx)
    sql = create_view_sql(
        sample, _table_name(table, "--table"), _table_name(view, "--view"), _load(cfg)
    )
    if out is None:
        typer.echo(sql, nl=False)
        return
    out.write_text(sql)
    console.print(f"wrote the view {view} over {table} to {out}")


def register(app: typer.Typer) -> None:
    """Add ``rules``, ``attribute`` and ``athena-view`` to the ``costlens`` command."""
    app.add_typer(rules_app)
    app.command("attribute")(attribute_command)
    app.command("athena-view")(athena_view_command)
