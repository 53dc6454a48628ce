"""The `pixret` command line (typer). Each submodule registers one group of commands."""

from __future__ import annotations

import sys
import warnings

import typer
from rich.console import Console

from ..errors import PixretError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Content-based pixel retrieval: benchmarks, evaluation, search engine, reports.",
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"pixret {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Content-based pixel retrieval: benchmarks, evaluation, search engine, reports."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    console.print(f"[yellow]warning:[/] {message}", highlight=False)


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, not a traceback."""
    warnings.showwarning = _show_warning
    try:
        app()
    except PixretError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)


# the command modules register themselves on `app` (they import it from here)
from . import benchmark, compare, data, engine, evaluate, hloc, server, study, weights  # noqa: E402, F401
