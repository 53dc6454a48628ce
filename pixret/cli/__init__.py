"""The `pixret` command line (typer). Each submodule registers one group of commands.

Two streams, in every command: **stdout** holds the results (score and ranking tables, lists,
JSON, a study's conclusions, what an index or a benchmark came to), so ``pixret run ... >
scores.txt`` keeps them; **stderr** holds how the work went: progress bars (drawn only on a
terminal: ``pixret.parallel.progress_bar``), notes, warnings, errors, and where files were
written. ``stdout`` and ``console`` (stderr) are the two consoles.

Everything the commands print about the user's input (paths, names, messages) goes through
``say``: plain text, never rich markup (a path such as ``m/[/x].db`` is not a tag), with the
characters a terminal would act on neutralised (``pixret.escape.terminal``).

Start-up: `pixret --help` imports every command module, so these modules import only typer,
rich and pixret's light modules at the top; NumPy, OpenCV, faiss, torch, Dask, matplotlib and
FastAPI are imported inside the commands that use them (tests/cli/test_startup.py keeps it so,
benchmarks/bench_startup.py measures it).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console, ConsoleDimensions
from rich.text import Text

from ..errors import PixretError
from ..escape import one_line_warnings, terminal

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Content-based pixel retrieval: benchmarks, evaluation, search engine, reports.",
    pretty_exceptions_enable=False,
)


class _Console(Console):
    """A rich Console that lays out for a terminal's width only on a terminal: into a pipe or a
    log (no width to fit) lines are whole, a table as wide as its cells (rich would fit it to 80
    columns, or to the width of whatever terminal the command was started from, wrapping an
    address mid-word: ``download --list`` cut every one). Tables do not expand, so a wide layout
    costs nothing."""

    UNBOUNDED = 100_000  # columns: wider than any line pixret prints

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(max(size.width, self.UNBOUNDED), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = _Console(stderr=True, soft_wrap=True)  # progress, notes, warnings, errors
stdout = _Console(soft_wrap=True)  # results


def say(text: object, prefix: str = "", style: str = "", to: Console | None = None) -> None:
    """Print ``text`` as plain text (no markup), terminal-escaped, after an optional styled
    ``prefix`` such as ``error:``: on stderr (a note), or on ``to`` (``stdout`` for a result)."""
    line = Text()
    if prefix:
        line.append(prefix + " ", style=style)
    line.append(terminal(text, one_line=True))  # one message, one line: a name cannot fake another
    (to or console).print(line, highlight=False)


def note(text: str) -> None:
    """A note on stderr (``note:``), once per message in one command: a note reached from two
    places (a warning raised while the work ran, then the same sentence in the run's
    scores.json) is said once."""
    if text in _said:
        return
    _said.add(text)
    say(text, "note:", "yellow")


_said: set[str] = set()  # what this command said already, as a note or a warning


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


def _flags_without_pydantic() -> None:
    """Typer 0.29 coerces a parameter's value through a pydantic TypeAdapter that it builds on
    first use (typer/core.py ``get_runtime_param``), even for a value that was not given, which it
    then returns as None untouched: so every command imported pydantic (about as long as NumPy
    and OpenCV together) for the group's unset ``--help`` alone. A flag's value is a bool already
    (click parses it), which typer's own pass-through coercion (``PassThroughRuntimeParam``)
    returns as it is, without pydantic. Here, flags get that one. Where typer lacks these names
    (another version), nothing is patched (tests/cli/test_startup.py then says so)."""
    from typer import _coercion, core

    param, passthrough = getattr(core, "_TyperParameter", None), getattr(_coercion, "PassThroughRuntimeParam", None)
    if param is None or passthrough is None or not hasattr(param, "get_runtime_param"):
        return
    build = param.get_runtime_param

    def get_runtime_param(self):
        desc = getattr(self, "type_descriptor", None)
        if getattr(self, "_runtime_param", 0) is None and getattr(self, "is_bool_flag", False) and \
                desc is not None and desc.annotation is bool:  # fmt: skip
            self._runtime_param = passthrough(annotation=bool, parameter_info=desc.parameter_info)
        return build(self)

    param.get_runtime_param = get_runtime_param


_flags_without_pydantic()


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
    _said.clear()  # each command says each note once (note, and the warnings: escape.one_line_warnings)


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, not a traceback."""
    one_line_warnings(lambda text: say(text, "warning:", "yellow"), _said)
    try:
        app()
    except PixretError as exc:
        say(exc, "error:", "red")
        sys.exit(2)


# the command modules register themselves on `app` (they import it from here)
from . import benchmark, compare, data, engine, evaluate, hloc, server, study, weights  # noqa: E402, F401
