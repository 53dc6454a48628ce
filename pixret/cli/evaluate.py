"""`pixret evaluate` and `pixret show`: score result files, draw them on images."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..datasets import load_benchmark
from ..evaluation import PROTOCOLS, evaluate_files, load_pixel_results, read_ranks
from ..io import PixretError, write_json
from . import app, console


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


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


_ROWS = [
    ("mIoU Medium box", "mIoU", "medium_box"), ("mIoU Medium mask", "mIoU", "medium_mask"),
    ("mIoU Hard box", "mIoU", "hard_box"), ("mIoU Hard mask", "mIoU", "hard_mask"),
    ("pixel mAP Medium", "pixel_mAP", "medium"), ("pixel mAP Hard", "pixel_mAP", "hard"),
    ("pixel mAP (box IoU) Medium", "pixel_mAP_box", "medium"), ("pixel mAP (box IoU) Hard", "pixel_mAP_box", "hard"),
    ("image mAP Easy", "image_mAP", "easy"), ("image mAP Medium", "image_mAP", "medium"),
    ("image mAP Hard", "image_mAP", "hard"),
]  # fmt: skip


def summary_table(summary: dict[str, dict], title: str) -> Table:
    """The headline numbers (percent): one row per metric, one column per protocol."""
    t = Table(title=title)
    t.add_column("metric (%)")
    for proto in summary:
        t.add_column(proto, justify="right")
    for label, a, b in _ROWS:
        t.add_row(label, *(_pct(r[a][b]) for r in summary.values()))
    return t


@app.command()
def evaluate(
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[
        Path, typer.Option(help="Pixel-level results (.npy release dict or pixret .json).")
    ],
    image_results: Annotated[
        Path | None, typer.Option(help="Image-level ranks (.npy (n_database, n_queries) or .json).")
    ] = None,
    protocol: Annotated[
        Protocol, typer.Option(help="compat = the release's numbers; strict = corrected.")
    ] = Protocol.both,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all numbers here.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Folder for per-query bars and PR curves (PNG).")] = None,
    points: PointsOpt = PointOrder.xy,
) -> None:
    """Score a method's results on a benchmark with the compat and/or strict protocol."""
    bench = load_benchmark(root, dataset)
    protos = PROTOCOLS if protocol is Protocol.both else (protocol.value,)
    ev = evaluate_files(bench, image_results, pixel_results, protos, points.value)
    summary = ev.summarize()
    console.print(summary_table(summary, f"{dataset}: {pixel_results.name}"))
    if json_out:
        write_json(json_out, {"dataset": dataset, **summary})
        console.print(f"wrote {json_out}")
    if plots:
        from ..viz.plots import write_plots

        for p in write_plots(ev, plots):
            console.print(f"wrote {p}")


@app.command()
def show(
    root: RootOpt,
    dataset: DatasetOpt,
    pixel_results: Annotated[Path, typer.Option(help="Pixel-level results (.npy or .json).")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")] = Path("show"),
    query: Annotated[
        list[int] | None, typer.Option(metavar="N", help="Query index (repeatable); default: all.")
    ] = None,
    image_results: Annotated[
        Path | None, typer.Option(help="Ranks: draw the top results, not the positives.")
    ] = None,
    top: Annotated[int, typer.Option(help="Images per query.")] = 10,
    points: PointsOpt = PointOrder.xy,
) -> None:
    """Draw ground truth (green) and predicted (red) pixels on each query's database images."""
    from ..viz.show import show_query

    bench = load_benchmark(root, dataset)
    pixels = load_pixel_results(bench, pixel_results, points.value)
    ranks = read_ranks(image_results, bench.n_database, bench.n_queries) if image_results else None
    bad = [q for q in query or () if not 0 <= q < bench.n_queries]
    if bad:
        raise PixretError(None, f"--query {bad[0]}: the benchmark has queries 0..{bench.n_queries - 1}")
    n = 0
    for q in query if query else range(bench.n_queries):
        n += len(show_query(bench, q, pixels, out, ranks, top))
    console.print(f"wrote {n} PNG file(s) to {out}")
