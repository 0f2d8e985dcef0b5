"""``hlsmap models``: known models (input contract, licence, citation, cached?), fetch, import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hlsmap.cli.app import app, console

models_app = typer.Typer(
    help="Known models: list them, fetch one into the cache, import a local copy.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(models_app, name="models")


def models_table(rows: list[dict[str, Any]]) -> Table:
    """Render :func:`hlsmap.model.zoo.describe` rows as a rich table."""
    table = Table(title="hlsmap models", show_lines=True)
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("model")
    table.add_column("input contract")
    table.add_column("licence / citation")
    table.add_column("cached")
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['title']}\n{row['source']}",
            "\n".join(f"{k}: {v}" for k, v in row["input"].items()),
            f"{row['license']}\n{row['citation']}",
            f"yes: {row['path']}" if row["cached"] else "no (fetched on first use)",
        )
    return table


@models_app.callback()
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the known models with their input contract, licence, citation and cache state."""
    if ctx.invoked_subcommand is not None:
        return
    from hlsmap.model.zoo import KNOWN_MODELS, describe

    rows = [describe(name) for name in sorted(KNOWN_MODELS)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        Console(width=max(Console().width, 120)).print(models_table(rows))


@models_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="A known model (see `hlsmap models`).")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Convert this local copy of the published model folder instead of downloading.",
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Base URL of a mirror of the model's repository.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Convert again even when cached.")] = False,
) -> None:
    """Download (pinned URL + sha256), convert and cache a known model; print its folder."""
    from hlsmap.model.zoo import ensure_model, get_known

    get_known(name)  # an unknown name is a usage error before anything is fetched
    path = ensure_model(name, source=source, url=url, force=force)
    console.print(f"{name}: converted model in {path}")
    typer.echo(str(path))


@models_app.command("import")
def import_model(
    name: Annotated[str, typer.Argument(help="A known model (see `hlsmap models`).")],
    source: Annotated[Path, typer.Argument(help="The published model folder (SavedModel).")],
    out: Annotated[Path, typer.Argument(help="The hlsmap model directory to write.")],
) -> None:
    """Convert a local copy of a known model into an hlsmap model directory (no TensorFlow)."""
    from hlsmap.model.zoo import get_known, importer

    entry = get_known(name)
    path = importer(entry)(source, out, None)
    console.print(f"{name}: converted {source} -> {path}")
