"""`pixret evaluate` and `pixret show`: score result files, draw them on images."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..datasets import load_benchmark
from ..evaluation import PROTOCOLS, evaluate_files, read_pixel_results, read_ranks
from ..io import write_json
from . import app, console


class Protocol(str, Enum):
    compat = "compat"
    strict = "strict"
    both = "both"


class PointOrder(str, Enum):
    yx = "yx"
    xy = "xy"


RootOpt = Annotated[Path, typer.Option(help="Release folder (pixel_retrieval_benchmarks) or its parent.")]
DatasetOpt = Annotated[
    str, typer.Option(help="proxford, prparis, r1m-proxford, r1m-prparis or a custom NAME.")
]
PointsOpt = Annotated[
    PointOrder,
    typer.Option(
        help="Column order of points in release .npy pixel files (the release's scripts read y, x)."
    ),
]


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def summary_table(summary: dict[str, dict], title: str) -> Table:
    """The headline numbers of each protocol as a rich table (percent)."""
    t = Table(title=title)
    t.add_column("protocol")
    for col in ("mIoU M box", "mIoU M mask", "mIoU H box", "mIoU H mask",
                "pix mAP M", "pix mAP H", "pix mAP box M", "pix mAP box H",
                "img mAP E", "img mAP M", "img mAP H"):  # fmt: skip
        t.add_column(col, justify="right")
    for proto, r in summary.items():
        m, p, pb, im = r["mIoU"], r["pixel_mAP"], r["pixel_mAP_box"], r["image_mAP"]
        t.add_row(
            proto,
            *(_pct(m[k]) for k in ("medium_box", "medium_mask", "hard_box", "hard_mask")),
            _pct(p["medium"]), _pct(p["hard"]), _pct(pb["medium"]), _pct(pb["hard"]),
            *(_pct(im[k]) for k in ("easy", "medium", "hard")),
        )  # fmt: skip
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
    points: PointsOpt = PointOrder.yx,
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
    query: Annotated[list[int] | None, typer.Option(help="Query index (repeatable); default all.")] = None,
    image_results: Annotated[
        Path | None, typer.Option(help="Ranks: draw the top results, not the positives.")
    ] = None,
    top: Annotated[int, typer.Option(help="Images per query.")] = 10,
    points: PointsOpt = PointOrder.yx,
) -> None:
    """Draw ground truth (green) and predicted (red) pixels on each query's database images."""
    from ..viz.show import show_query

    bench = load_benchmark(root, dataset)
    pixels = read_pixel_results(pixel_results, bench.n_queries, bench.n_database, points.value)
    ranks = read_ranks(image_results, bench.n_database, bench.n_queries) if image_results else None
    n = 0
    for q in query if query else range(bench.n_queries):
        n += len(show_query(bench, q, pixels, out, ranks, top))
    console.print(f"wrote {n} PNG file(s) to {out}")
