"""The `pixret` command line (typer). Each submodule registers one group of commands.

Everything the commands print about the user's input (paths, names, messages) goes through
``say``: plain text, never rich markup (a path such as ``m/[/x].db`` is not a tag), with the
characters a terminal would act on neutralised (``pixret.escape.terminal``).
"""

from __future__ import annotations

import sys
import warnings

import typer
from rich.console import Console
from rich.text import Text

from ..errors import PixretError
from ..escape import terminal

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Content-based pixel retrieval: benchmarks, evaluation, search engine, reports.",
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)

def say(text: object, prefix: str = "", style: str = "", out: Console | None = None) -> None:
    """Print ``text`` as plain text (no markup), terminal-escaped, after an optional styled
    ``prefix`` such as ``error:`` (on stderr unless ``out`` is given)."""
    line = Text()
    if prefix:
        line.append(prefix + " ", style=style)
    line.append(terminal(text, one_line=True))  # one message, one line: a name cannot fake another
    (out or console).print(line, highlight=False)


def _plain_help() -> None:
    """Typer 0.29 renders help with its own copy of click (``typer._click``) and labels every
    parameter with its Python type, so each flag shows ``<bool>`` (``--help`` included), and it
    writes required arguments as ``{FOLDER}`` in the usage line (typer/core.py:
    ``display_type``, ``_usage_display_name``); click's own help prints neither. Here, once for
    every command: flags get no type label, and arguments are written the click way (``FOLDER``,
    ``[FOLDER]`` when optional). Where typer lacks these hooks (another version), nothing is
    patched."""
    from typer import core

    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is not None and hasattr(option, "display_type_rich"):
        typed = option.display_type_rich

        def display_type_rich(self, ctx):
            if getattr(self, "is_flag", False) and not getattr(self, "count", False) and self.metavar is None:
                return None
            return typed(self, ctx)

        option.display_type_rich = display_type_rich
    if argument is not None and hasattr(argument, "_usage_display_name"):

        def usage_name(self) -> str:
            name = self.metavar or (self.name or "").upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        argument._usage_display_name = usage_name


_plain_help()


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
    say(message, "warning:", "yellow")


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, not a traceback."""
    warnings.showwarning = _show_warning
    try:
        app()
    except PixretError as exc:
        say(exc, "error:", "red")
        sys.exit(2)


# the command modules register themselves on `app` (they import it from here)
from . import benchmark, compare, data, engine, evaluate, hloc, server, study, weights  # noqa: E402, F401
