"""Options shared by several commands (typer ``Annotated`` types), and the summary table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..engine.config import CONFIGS
from ..errors import PixretError
from ..escape import terminal
from ..evaluation.metrics import percent, summary_rows


class Protocol(str, Enum):
    compat = "compat"
    strict = "strict"
    both = "both"


class PointOrder(str, Enum):
    xy = "xy"
    yx = "yx"


RootOpt = Annotated[Path, typer.Option(help="Release folder (pixel_retrieval_benchmarks) or its parent.")]
DatasetOpt = Annotated[
    str, typer.Option(help="proxford, prparis, r1m-proxford, r1m-prparis or a custom NAME.")
]
PointsOpt = Annotated[
    PointOrder,
    typer.Option(
        help="Column order of points in release .npy pixel files: xy as the release's scripts read "
        "them since 2024-03-16 (commit 7772cb4); yx for files made for the earlier scripts."
    ),
]
OneBasedOpt = Annotated[
    bool,
    typer.Option("--one-based", help="The ranking holds indices 1..n (MATLAB's revisitop code writes them so)."),
]
RunOpt = Annotated[
    Path | None,
    typer.Option("--run", metavar="FOLDER", help="A run folder (pixret run, import-hloc): its ranks.npy and "
                 "pixels.json, instead of --image-results / --pixel-results."),
]


def result_files(run: Path | None, image: Path | None, pixel: Path | None) -> tuple[Path | None, Path, str | None]:
    """(image results, pixel results, method name or None) from a run folder or the two files;
    PixretError when neither or both are given."""
    from ..evaluation.results import RunFolder

    if run is not None:
        if image is not None or pixel is not None:
            raise PixretError(None, "give --run FOLDER or --image-results / --pixel-results, not both")
        folder = RunFolder(run).check()
        return folder.ranks, folder.pixels, folder.method()
    if pixel is None:
        raise PixretError(None, "give --pixel-results FILE (and --image-results FILE), or --run FOLDER")
    return image, pixel, None


ConfigOpt = Annotated[str, typer.Option(help=f"Engine config: {', '.join(CONFIGS)}.")]
DeviceOpt = Annotated[
    str, typer.Option(help="Learned features: auto (CUDA when present), cpu, cuda or cuda:N.")
]
WorkersOpt = Annotated[
    int | None, typer.Option(metavar="N", help="Processes (default: one per core).")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(metavar="tcp://HOST:PORT", envvar="PIXRET_DASK_SCHEDULER",
                 help="A Dask scheduler to extract features on (default: a local cluster on 127.0.0.1, "
                 "one worker per core; --workers 1: this process)."),
]  # fmt: skip


def pct(v: float | None) -> str:
    """A fraction as a percentage with two decimals; '-' for a missing value."""
    return percent(v, 2)


def summary_table(summary: dict[str, dict], title: str) -> Table:
    """The headline numbers (percent): one row per (metric, subset) of the metric registry, one
    column per protocol."""
    t = Table(title=escape(terminal(title, one_line=True)))
    t.add_column("metric (%)")
    for proto in summary:
        t.add_column(escape(terminal(proto)), justify="right")
    for label, metric, subset in summary_rows():
        t.add_row(label, *(pct(metric.value(r, subset)) for r in summary.values()))
    return t


STDOUT = "-"  # an output file given as '-' is written to stdout (JSON, CSV, Markdown, LaTeX, pairs)


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def check_outputs(**options: Path | str | None) -> bool:
    """Check a command's output files (option name -> path) before any work: a path that exists
    and is not a regular file (a link, a folder, a FIFO, a device) is refused (``io.check_target``),
    as are two outputs given as '-'. Returns whether one is '-' (stdout): then that document is
    all stdout holds, and the command's tables go to stderr."""
    from ..io import check_target

    dashed = [name for name, path in options.items() if is_stdout(path)]
    if len(dashed) > 1:
        raise PixretError(None, f"--{dashed[0]} - and --{dashed[1]} -: one output at most can go to stdout ('-')")
    for path in options.values():
        if path is not None and not is_stdout(path):
            check_target(path)
    return bool(dashed)


def not_stdout(option: str, path: Path | str | None) -> None:
    """Refuse '-' for an output that is not text for stdout (an HTML page with its pictures)."""
    if is_stdout(path):
        raise PixretError(None, f"{option} -: this output is written to a file only; give its name")


def write_output(path: Path, text: str) -> None:
    """Write a text output: to stdout when ``path`` is '-', else to the file (atomically; 'wrote'
    on stderr)."""
    import sys

    from ..io import write_bytes
    from . import say

    if is_stdout(path):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    write_bytes(path, text.encode())
    say(f"wrote {path}")
