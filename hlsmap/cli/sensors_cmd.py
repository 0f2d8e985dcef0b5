"""``hlsmap sensors``: the sensor registry as a table (or JSON)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hlsmap.cli.app import app


def sensors_table(rows: list[dict[str, Any]]) -> Table:
    """Render :func:`hlsmap.sensors.describe_sensors` rows as a rich table."""
    table = Table(title="hlsmap sensors", show_lines=True)
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("collections")
    table.add_column("bands -> assets")
    table.add_column("QA")
    table.add_column("resolution", justify="right")
    for row in rows:
        table.add_row(
            row["name"],
            row["title"],
            "\n".join(f"{provider}: {cid}" for provider, cid in row["collections"].items()),
            "\n".join(f"{band} -> {asset}" for band, asset in row["bands"].items()),
            f"{row['qa']['asset']} ({row['qa']['kind']})",
            f"{row['resolution']:g} m",
        )
    return table


@app.command("sensors")
def sensors(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the registry as JSON instead of a table.")
    ] = False,
) -> None:
    """List the registered sensors: STAC collections per provider, band assets, resolution."""
    from hlsmap.sensors import describe_sensors

    rows = describe_sensors()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        Console(width=max(Console().width, 120)).print(sensors_table(rows))
