"""`pixret compare`: methods from a results tree and from run folders, on any benchmark, in the
paper's table layout, with significance; Markdown, LaTeX, CSV, JSON and an HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import PixretError, quoted
from ..evaluation.metrics import COMPARED, METRICS
from . import app, console, note, say, stdout
from .options import (
    OneBasedOpt,
    PointOrder,
    PointsOpt,
    Protocol,
    RootOpt,
    check_outputs,
    not_stdout,
    write_output,
)


def parse_run(spec: str) -> tuple[str | None, Path]:
    """``NAME=FOLDER`` -> (NAME, FOLDER); a bare ``FOLDER`` (or one whose name holds '=') -> (None,
    FOLDER): the method is then the one the folder's files name."""
    try:
        is_folder = Path(spec).is_dir()
    except OSError:  # a name too long for a path: it is NAME=FOLDER
        is_folder = False
    if is_folder or "=" not in spec:
        return None, Path(spec)
    name, folder = spec.split("=", 1)
    if not name:
        raise PixretError(None, f"--run {quoted(spec)}: give NAME=FOLDER or FOLDER")
    return name, Path(folder)


@app.command("compare")
def compare_cmd(
    root: RootOpt,
    results: Annotated[
        Path | None,
        typer.Option(help="Results tree: image-level/METHOD/NAME.npy, pixel-level/METHOD/matching_result/NAME.npy "
                     "(the release's names for its datasets: roxford, proxford, ...)."),
    ] = None,
    run: Annotated[list[str] | None, typer.Option(metavar="NAME=FOLDER", help=(
        "A run folder (pixret run, import-hloc, reference-results) as method NAME (repeatable); FOLDER alone: "
        "the method its files name."))] = None,
    method: Annotated[list[str] | None, typer.Option(metavar="METHOD", help=(
        "Method to include (repeatable); default: every method found."))] = None,
    dataset: Annotated[list[str] | None, typer.Option(metavar="NAME", help=(
        "Benchmark (repeatable): proxford, prparis, r1m-*, or any NAME under the root (make-benchmark, demo); "
        "default: every one with results."))] = None,
    protocol: Annotated[Protocol, typer.Option(help="compat, strict or both.")] = Protocol.strict,
    metric: Annotated[
        list[str] | None,
        typer.Option(metavar="METRIC", help=f"Tables (repeatable): {', '.join(METRICS)}; default "
                     f"{', '.join(COMPARED)}."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Mark cells that differ significantly from this method (p < 0.05).")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write every table as Markdown ('-': stdout).")] = None,
    latex: Annotated[Path | None, typer.Option(help="Write the paper's table as LaTeX (booktabs; '-': stdout).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write one row per cell (CSV; '-': stdout).")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write all scores, per-query values and paired tests ('-': stdout).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write an HTML page: the tables, per-query differences, masks side by side.")
    ] = None,
    html_images: Annotated[int, typer.Option(help="--html: positives drawn per query.", min=0)] = 4,
    cache: Annotated[
        Path | None, typer.Option(help="Cache folder (default RESULTS/.pixret-cache, or ~/.cache/pixret/compare).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Score every file again.")] = False,
    points: PointsOpt = PointOrder.xy,
    one_based: OneBasedOpt = False,
) -> None:
    """Score several methods on several benchmarks, in the paper's table layout, with significance.
    An output given as '-' (--markdown, --latex, --csv or --json) is written to stdout, and the
    tables to stderr."""
    import json

    from ..evaluation import PROTOCOLS
    from ..evaluation.compare import compare
    from ..viz import tables

    unknown = [m for m in metric or () if m not in METRICS]
    if unknown:
        raise typer.BadParameter(f"unknown metric {quoted(unknown[0])}; choose from {', '.join(METRICS)}")
    metrics = list(dict.fromkeys(metric)) if metric else list(COMPARED)
    protos = PROTOCOLS if protocol is Protocol.both else (protocol.value,)
    not_stdout("--html", html)
    shown = console if check_outputs(markdown=markdown, latex=latex, csv=csv, json=json_out, html=html) else stdout
    runs = [parse_run(r) for r in run or ()]
    store = False if no_cache else (cache or True)
    cmp = compare(root, results, method, dataset, protos, points.value, cache=store, runs=runs, one_based=one_based)
    cmp.check_baseline(baseline)  # a method of the comparison, never an oracle
    for p in protos:
        for m in metrics:
            shown.print(tables.rich_table(cmp, p, m, baseline))
    for line in tables.footnotes(cmp, baseline):  # the tables' footnotes (what a dagger means): with them
        say(line, to=shown)
    fresh = len(cmp.evaluated)
    say(f"scored {fresh} (method, dataset) pair(s), {len(cmp.scores) - fresh} from the cache")
    for text in cmp.notes:
        note(text)
    for path, text in ((markdown, tables.markdown), (latex, tables.latex), (csv, tables.csv_text)):
        if path:
            write_output(path, text(cmp, baseline, metrics))
    if json_out:
        write_output(json_out, json.dumps(cmp.as_dict(baseline), indent=2))
    if html:
        from ..viz.compare_page import write_compare_page

        write_compare_page(cmp, html, baseline, metrics, html_images)
        say(f"wrote {html}")
