"""``costlens demo``: the whole product on a generated sample company, in one command.

Generates a CUR 2.0 export of the sample company into ``<dir>/exports`` (once; ``--fresh`` makes a
new one), syncs it (ingest → attribute → refresh) into ``<dir>`` as a ``local`` source, and serves
the dashboard. Nothing outside ``<dir>`` is written; the rules and owners are the configured ones
(``data/rules.yaml`` and ``data/owners.yaml`` by default, the sample company's: run elsewhere than
the checkout, the defaults are the checkout's files). They are checked before anything is made.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, parse_month, record_json, settings
from costlens.config import Settings, SourceSettings
from costlens.errors import ConfigError, SampleError, data_dir_error

__all__ = ["company_files", "demo_settings", "register", "run_demo"]

DEMO_DIR = Path("data/demo")
DEMO_SOURCE = "demo"
DEFAULTS: dict[str, Any] = {"months": 4, "seed": 1, "scale": 1.0}
SAMPLE_ARGS = "sample.json"
"""Beside labels.json: the arguments the demo's sample was made with."""


CHECKOUT_DATA = Path(__file__).resolve().parents[2] / "data"
"""The checkout's ``data/``: the sample company's ``rules.yaml`` and ``owners.yaml``."""


def company_files(cfg: Settings) -> Settings:
    """``cfg`` with rules and owners that exist: the configured files, or for a default path
    missing from the working folder (the demo run elsewhere than the checkout) the checkout's.
    Raises a ``ConfigError`` naming the setting when neither is there."""
    defaults = Settings.model_fields
    update: dict[str, Path] = {}
    for name in ("rules", "owners"):
        path: Path = getattr(cfg, name)
        if path.is_file():
            continue
        shipped = CHECKOUT_DATA / path.name
        default = Path(defaults[name].default)  # data/rules.yaml, made absolute from a folder
        if path.parts[-len(default.parts) :] == default.parts and shipped.is_file():
            update[name] = shipped
            continue
        raise ConfigError(
            f"{path}: no such {name} file for the demo",
            where=f"settings {name}",
            fix=f"run the demo from the costlens checkout, or set COSTLENS_{name.upper()} to a "
            f"{name} file (the sample company's is data/{name}.yaml in the checkout)",
        )
    return cfg.model_copy(update=update) if update else cfg


def demo_settings(cfg: Settings, demo_dir: Path) -> Settings:
    """``cfg`` with its data folder and sources pointed at the demo's."""
    demo_dir = demo_dir.resolve()
    source = SourceSettings(name=DEMO_SOURCE, kind="local", path=demo_dir / "exports")
    return cfg.model_copy(update={"data_dir": demo_dir, "sources": [source], "state_url": None})


def run_demo(
    cfg: Settings,
    demo_dir: Path,
    *,
    end_month: date | None = None,
    months: int | None = None,
    seed: int | None = None,
    scale: float | None = None,
    fresh: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Generate (if needed) and sync the demo data; returns the sync summary.

    ``end_month`` is the sample's last month, ``months`` its length (default 4), ``seed`` and
    ``scale`` (default 1 and 1.0) as for ``generate_sample``. An argument left ``None`` keeps the
    value of the demo already in ``demo_dir`` (recorded in ``exports/sample.json``), or takes the
    default for a new one: the last complete month of ``cfg.current_date()`` for ``end_month``. A
    demo made with other values is made anew, warehouse and all, as with ``fresh``: two calendars
    or seeds never mix in one warehouse.
    """
    from costlens.commands.analytics import run_sync
    from costlens.progress import NullProgress, terminal_progress
    from costlens.sample import (
        generate_sample,
        last_complete_month,
        sample_periods,
        validate_sample_arguments,
    )

    exports = demo_dir / "exports"
    made = _made_with(exports)
    if end_month is None:
        end_month = (
            date.fromisoformat(made["end_month"])
            if made
            else last_complete_month(cfg.current_date())
        )
    end = end_month.replace(day=1)
    kept = made or DEFAULTS
    months = kept["months"] if months is None else months
    seed = kept["seed"] if seed is None else seed
    scale = kept["scale"] if scale is None else scale
    validate_sample_arguments("cur2", months, scale, seed)  # before anything is removed
    cfg = company_files(cfg)
    wanted = {"end_month": end.isoformat(), "months": months, "seed": seed, "scale": scale}
    if (fresh or (made is not None and made != wanted)) and demo_dir.exists():
        shutil.rmtree(demo_dir)
    try:
        demo_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise data_dir_error(
            exc,
            demo_dir,
            "create the demo folder",
            fix="pass --dir a folder this user can create and write",
        ) from exc
    generated = None
    if _made_with(exports) is None:
        if exports.exists():
            shutil.rmtree(exports)  # a half-written sample from an interrupted run
        result = generate_sample(
            exports,
            format="cur2",
            end_month=end,
            months=months,
            seed=seed,
            scale=scale,
            progress=terminal_progress() if show_progress else NullProgress(),
        )
        (exports / SAMPLE_ARGS).write_text(json.dumps(wanted) + "\n")
        generated = {"line_items": result.line_items, "seconds": round(result.seconds, 3)}
    summary = run_sync(demo_settings(cfg, demo_dir), show_progress=show_progress)
    summary["generated"] = generated
    summary["periods"] = [p.isoformat() for p in sample_periods(end, months)]
    return summary


def _made_with(exports: Path) -> dict[str, Any] | None:
    """The arguments of the complete sample in ``exports``: ``None`` when there is none (or a
    half-written one), ``{}`` for a demo made before ``sample.json`` (so it is made anew)."""
    if not (exports / "labels.json").is_file():
        return None
    try:
        made = json.loads((exports / SAMPLE_ARGS).read_text())
    except (OSError, ValueError):
        return {}
    keys = {"end_month", "months", "seed", "scale"}
    return made if isinstance(made, dict) and keys <= made.keys() else {}


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        directory: Annotated[
            Path, typer.Option("--dir", help="Folder for the demo's exports and data.")
        ] = DEMO_DIR,
        no_serve: Annotated[
            bool, typer.Option("--no-serve", help="Prepare everything but do not start the server.")
        ] = False,
        port: Annotated[int, typer.Option(help="Dashboard port.")] = 8501,
        months: Annotated[
            int | None, typer.Option(help="Months of sample history (default 4).")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Sample seed (default 1).")] = None,
        scale: Annotated[
            float | None,
            typer.Option(help="Sample size; 1 (the default) ≈ 150k line items a month."),
        ] = None,
        last_month: Annotated[
            str | None,
            typer.Option(
                "--end-month",
                help="Last month of the sample, YYYY-MM (default: the last complete month; "
                "COSTLENS_TODAY pins today). An option left out keeps the value of the demo "
                "already in --dir; a demo made with another --end-month, --months, --seed or "
                "--scale is made anew.",
            ),
        ] = None,
        fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the sample.")] = False,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """Generate a sample company's bill, load and attribute it, and open the dashboard."""
        from costlens.commands.analytics import describe_attribution
        from costlens.commands.dashboard import run_dashboard

        end = None if last_month is None else parse_month(last_month, "--end-month", SampleError)
        cfg = demo_settings(settings(ctx), directory)
        summary = run_demo(
            cfg,
            directory,
            end_month=end,
            months=months,
            seed=seed,
            scale=scale,
            fresh=fresh,
            show_progress=not json_output,
        )
        if json_output:
            emit_json(summary)
        else:
            first, last = summary["periods"][0][:7], summary["periods"][-1][:7]
            console.print(
                f"demo data ({first}..{last}) in {cfg.data_dir}: "
                f"{describe_attribution(summary['attribute'])}, "
                f"{summary['refresh']['open_anomalies']} open anomalies"
            )
        if not no_serve:
            run_dashboard(cfg, port=port)
