"""``costlens demo``: the whole product on a generated sample company, in one command.

Generates a CUR 2.0 export of the sample company into ``<dir>/exports`` (once; ``--fresh`` makes a
new one), syncs it (ingest → attribute → refresh) into ``<dir>`` as a ``local`` source, and serves
the dashboard. Nothing outside ``<dir>`` is written; the rules and owners are the configured ones
(``data/rules.yaml`` and ``data/owners.yaml`` by default).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, settings
from costlens.config import Settings, SourceSettings
from costlens.errors import data_dir_error

__all__ = ["demo_settings", "register", "run_demo"]

DEMO_DIR = Path("data/demo")
DEMO_SOURCE = "demo"


def demo_settings(cfg: Settings, demo_dir: Path) -> Settings:
    """``cfg`` with its data folder and sources pointed at the demo's."""
    demo_dir = demo_dir.resolve()
    source = SourceSettings(name=DEMO_SOURCE, kind="local", path=demo_dir / "exports")
    return cfg.model_copy(update={"data_dir": demo_dir, "sources": [source], "state_url": None})


def run_demo(
    cfg: Settings,
    demo_dir: Path,
    *,
    months: int = 4,
    seed: int = 1,
    scale: float = 1.0,
    fresh: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Generate (if needed) and sync the demo data; returns the sync summary."""
    from costlens.commands.analytics import run_sync
    from costlens.progress import NullProgress, terminal_progress
    from costlens.sample import generate_sample

    exports = demo_dir / "exports"
    if fresh and demo_dir.exists():
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
    if not (exports / "labels.json").is_file():
        if exports.exists():
            shutil.rmtree(exports)  # a half-written sample from an interrupted run
        result = generate_sample(
            exports,
            format="cur2",
            months=months,
            seed=seed,
            scale=scale,
            progress=terminal_progress() if show_progress else NullProgress(),
        )
        generated = {"line_items": result.line_items, "seconds": round(result.seconds, 3)}
    summary = run_sync(demo_settings(cfg, demo_dir), show_progress=show_progress)
    summary["generated"] = generated
    return summary


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
        months: Annotated[int, typer.Option(help="Months of sample history.")] = 4,
        seed: Annotated[int, typer.Option(help="Sample seed.")] = 1,
        scale: Annotated[
            float, typer.Option(help="Sample size; 1 ≈ 150k line items a month.")
        ] = 1.0,
        fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate the sample.")] = False,
        json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    ) -> None:
        """Generate a sample company's bill, load and attribute it, and open the dashboard."""
        from costlens.commands.analytics import describe_attribution
        from costlens.commands.dashboard import run_dashboard

        cfg = demo_settings(settings(ctx), directory)
        summary = run_demo(
            cfg,
            directory,
            months=months,
            seed=seed,
            scale=scale,
            fresh=fresh,
            show_progress=not json_output,
        )
        if json_output:
            emit_json(summary)
        else:
            console.print(
                f"demo data in {cfg.data_dir}: {describe_attribution(summary['attribute'])}, "
                f"{summary['refresh']['open_anomalies']} open anomalies"
            )
        if not no_serve:
            run_dashboard(cfg, port=port)
