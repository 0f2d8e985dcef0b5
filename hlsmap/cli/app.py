"""The typer application and its error handling, shared by every command module.

Each command module under ``hlsmap/cli/`` registers its commands on :data:`app`; a command only
parses its options, builds a config and calls one library function.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    name="hlsmap",
    help="Land-cover maps from Harmonized Landsat Sentinel-2 (HLS) time series.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from hlsmap import __version__

        typer.echo(f"hlsmap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks for errors.")
    ] = False,
) -> None:
    """Land-cover maps from Harmonized Landsat Sentinel-2 (HLS) time series."""
    _state["debug"] = debug


def _click_exceptions() -> tuple[type[Any], ...]:
    """Click's exception base of every click that can raise here: typer >= 0.20 vendors click
    as ``typer._click`` (its exceptions are not ``click.ClickException``), older ones use it."""
    found: list[type[Any]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hlsmap`` console script.

    User mistakes (:class:`hlsmap.errors.HlsmapError`) are printed as one clear message with
    exit code 2 and no traceback; ``--debug`` re-raises them. Ctrl-C exits 130 and prints the
    command that resumes the run (every finished tile or product is kept). Typer, run with
    ``standalone_mode=False``, *returns* the exit code of ``typer.Exit`` and of Ctrl-C (130)
    instead of raising it, so the returned value is the exit status.
    """
    import shlex

    from hlsmap.errors import HlsmapError

    args = sys.argv[1:] if argv is None else argv
    _state["debug"] = "--debug" in args
    try:
        code = app(args=args, standalone_mode=False)
    except KeyboardInterrupt:  # raised outside a command (typer turns the others into 130)
        code = 130
    except HlsmapError as exc:
        if _state["debug"]:
            raise
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        console.print("aborted")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors and friends
        usage = _click_exceptions()
        if isinstance(exc, usage):
            shown: Any = exc
            shown.show()  # click's short usage + one line
            raise SystemExit(shown.exit_code) from None  # 2 for usage errors
        raise
    if code == 130:
        # the run's finally blocks have stopped its cluster and released its lock by now
        console.print(
            "interrupted; finished work is kept. To resume, run the same command again: "
            + shlex.join(["hlsmap", *args]),
            highlight=False,
        )
        raise SystemExit(130)
    if isinstance(code, int) and code:
        raise SystemExit(code)
