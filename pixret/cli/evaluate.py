"""`pixret evaluate` and `pixret show`: score result files, draw them on images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import PixretError
from . import app, console, note, say, stdout
from .options import (
    DatasetOpt,
    OneBasedOpt,
    PointOrder,
    PointsOpt,
    Protocol,
    RootOpt,
    RunOpt,
    check_outputs,
    result_files,
    summary_table,
    write_output,
)


@app.command()
def evaluate(
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[
        Path | None, typer.Option(help="Pixel-level results (.npy release dict or pixret .json).")
    ] = None,
    image_results: Annotated[
        Path | None, typer.Option(help="Image-level ranks (.npy (n_database, n_queries) or .json).")
    ] = None,
    protocol: Annotated[
        Protocol, typer.Option(help="compat = the release's numbers; strict = corrected.")
    ] = Protocol.both,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all numbers here ('-': to stdout, the "
                                                  "table then to stderr).")] = None,
    plots: Annotated[Path | None, typer.Option(help="Folder for per-query bars and PR curves (PNG).")] = None,
    points: PointsOpt = PointOrder.xy,
    one_based: OneBasedOpt = False,
    run: RunOpt = None,
) -> None:
    """Score a method's results on a benchmark with the compat and/or strict protocol."""
    import json

    from ..datasets import load_benchmark
    from ..evaluation import PROTOCOLS, evaluate_files
    from ..evaluation.results import oracle_of

    shown = console if check_outputs(json=json_out) else stdout
    image_results, pixel_results, _ = result_files(run, image_results, pixel_results)
    bench = load_benchmark(root, dataset)
    protos = PROTOCOLS if protocol is Protocol.both else (protocol.value,)
    ev = evaluate_files(bench, image_results, pixel_results, protos, points.value, one_based)
    summary = ev.summarize()
    oracle = oracle_of(pixel_results)  # built from the labels: marked, never shown as a method's score
    shown.print(summary_table(summary, f"{dataset}: {pixel_results.name}" + (" (oracle)" if oracle else "")))
    if oracle:
        note(f"{pixel_results} is an oracle, built from the benchmark's labels ({oracle}): not a method's score")
    report = ev.input_report()
    for text in report["notes"]:  # those reading warned about are on screen already, as warnings
        if text not in ev.read_notes:
            note(text)
    if json_out:
        doc = {"dataset": dataset, **({"oracle": oracle} if oracle else {}), **summary, "input": report}
        write_output(json_out, json.dumps(doc, indent=2))
    if plots:
        from ..viz.plots import write_plots

        for p in write_plots(ev, plots):
            say(f"wrote {p}")


@app.command()
def show(
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[Path | None, typer.Option(help="Pixel-level results (.npy or .json).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNG files (an earlier show's files there, not "
                                      "written again, are removed: said).")] = Path("show"),
    query: Annotated[
        list[int] | None, typer.Option(metavar="N", help="Query index (repeatable); default: all.")
    ] = None,
    image_results: Annotated[
        Path | None, typer.Option(help="Ranks: draw the top results, not the positives.")
    ] = None,
    top: Annotated[int, typer.Option(help="Images per query.")] = 10,
    points: PointsOpt = PointOrder.xy,
    one_based: OneBasedOpt = False,
    run: RunOpt = None,
) -> None:
    """Draw ground truth (green) and predicted (red) pixels on each query's database images: its
    top-ranked ones with --image-results or --run, else its positives."""
    from ..datasets import load_benchmark
    from ..evaluation import load_pixel_results, load_ranks
    from ..viz.show import show_queries

    image_results, pixel_results, _ = result_files(run, image_results, pixel_results)
    bench = load_benchmark(root, dataset)
    pixels = load_pixel_results(bench, pixel_results, points.value)
    ranks = load_ranks(bench, image_results, one_based) if image_results else None
    bad = [q for q in query or () if not 0 <= q < bench.n_queries]
    if bad:
        raise PixretError(None, f"--query {bad[0]}: the benchmark has queries 0..{bench.n_queries - 1}")
    shown = list(query) if query else list(range(bench.n_queries))
    written, notes = show_queries(bench, shown, pixels, out, ranks, top)
    for text in notes:  # an earlier show's files, removed or kept: said
        note(text)
    cut = [q for q in shown if ranks is None and len(bench.queries[q].positives) > top]
    if cut:  # nothing left out without a word
        q = cut[0]
        note(f"{len(cut)} of {len(shown)} queries have more positives than --top {top} draws (first: query {q}, "
             f"{top} of {len(bench.queries[q].positives)}); --top N draws more")
    say(f"wrote {len(written)} PNG file(s) to {out}")
