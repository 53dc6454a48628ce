"""`pixret index`, `pixret search`, `pixret run` and `pixret demo`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..datasets import load_benchmark
from ..engine import CONFIGS, Index, get_config, list_images
from ..engine.index import IMAGE_EXT, parse_box
from ..engine.run import run_engine, write_run
from ..evaluation.predictions import polygons_as_lists
from ..io import PixretError
from . import app, console
from .evaluate import DatasetOpt, RootOpt, summary_table

ConfigOpt = Annotated[str, typer.Option(help=f"Engine config: {', '.join(CONFIGS)}.")]
stdout = Console(soft_wrap=True)  # results go to stdout (progress and notes to stderr)
DeviceOpt = Annotated[
    str, typer.Option(help="Learned features: auto (CUDA when present), cpu, cuda or cuda:N.")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(metavar="tcp://HOST:PORT", envvar="PIXRET_DASK_SCHEDULER",
                 help="A Dask scheduler to extract features on (default: a local cluster on 127.0.0.1, "
                 "one worker per core; --workers 1: this process)."),
]  # fmt: skip


@app.command()
def index(
    images: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Folder of images (searched recursively).")
    ],
    index_dir: Annotated[Path, typer.Option("--index", help="Folder to write the index to.")],
    config: ConfigOpt = "fast",
    workers: Annotated[
        int | None,
        typer.Option(metavar="N", help="Processes for feature extraction (default: one per core)."),
    ] = None,
    device: DeviceOpt = "auto",
    scheduler: SchedulerOpt = None,
    add: Annotated[bool, typer.Option("--add", help="Append the folder's new images to the existing index "
                                      "(its vocabulary kept; no rebuild).")] = False,
) -> None:
    """Index a folder of images (features are cached: an interrupted run resumes)."""
    t0 = time.perf_counter()
    paths = list_images(images)
    if not paths:
        raise PixretError(
            images, f"no images found (looked for {', '.join(sorted(IMAGE_EXT))}, in subfolders too)"
        )
    if add:
        old = Index.open(index_dir, device=device)
        idx = old.add(paths, workers=workers, progress=True, scheduler=scheduler)
        console.print(f"added {len(idx) - len(old)} new images ({len(paths)} in the folder)")
    else:
        idx = Index.build(paths, get_config(config), index_dir, workers=workers, device=device, scheduler=scheduler)
    console.print(f"indexed {len(idx)} images in {time.perf_counter() - t0:.1f} s "
                  f"({idx.memory_bytes() / max(1, len(idx)):.0f} B per image in memory, "
                  f"{idx.shortlist_bytes() / max(1, len(idx)) / 1024:.1f} KB of postings), "
                  f"{len(idx.skipped)} skipped -> {index_dir}")  # fmt: skip


@app.command()
def search(
    query: Annotated[Path, typer.Argument(metavar="IMAGE", help="Query image.")],
    index_dir: Annotated[Path, typer.Option("--index", help="An index built by `pixret index`.")],
    box: Annotated[str, typer.Option(help="Object box x1,y1,x2,y2 in query pixels.")],
    top: Annotated[int, typer.Option(help="Results to print and draw.")] = 10,
    out: Annotated[Path | None, typer.Option(help="Folder for overlay PNGs.")] = None,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print the hits as JSON (scores, boxes, polygons) instead of a table."),
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Search with an image and a box; print the ranking (to stdout), draw the object's pixels."""
    idx = Index.open(index_dir, device)
    r = idx.search_full(query, parse_box(box))
    hits = r.hits[:top]
    if json_out:
        doc = {"query": str(query), "box": list(parse_box(box)), "seconds": round(r.timings["total"], 4),
               "hits": [_hit_json(k, h) for k, h in enumerate(hits)]}  # fmt: skip
        typer.echo(json.dumps(doc))
    else:
        t = Table(title=f"{query.name}: {r.timings['total'] * 1000:.0f} ms")
        for col in ("rank", "image", "matching points", "tf-idf", "verified"):
            t.add_column(col)
        for k, h in enumerate(hits):
            t.add_row(str(k + 1), h.name, str(h.inliers), f"{h.bow_score:.3f}", "yes" if h.verified else "")
        stdout.print(t)
        if not any(h.verified for h in hits):
            stdout.print(
                "no match found: the object was not verified in any image (try a tighter box on a textured part)"
            )
    if out:
        from ..viz.overlay import (
            BOX_COLOR,
            PRED_COLOR,
            draw_box,
            draw_polygons,
            label,
            read_image,
            write_image,
        )

        write_image(out / "query.png", draw_box(read_image(query), parse_box(box)))
        for k, h in enumerate(r.hits[:top]):
            img = read_image(idx.image_path(h.index))
            if h.verified:
                img = draw_polygons(
                    draw_polygons(img, h.box_polygons, BOX_COLOR, fill=False), h.polygons, PRED_COLOR
                )
            write_image(out / f"{k + 1:03d}_{h.name}.png", label(img, f"#{k + 1} {h.inliers} inliers"))
        console.print(f"wrote overlays to {out}")


def _hit_json(k: int, h) -> dict:
    box = None
    if h.box_polygons:
        pts = np.concatenate(h.box_polygons)
        box = np.round([*pts.min(0), *pts.max(0)], 1).tolist()
    return {"rank": k + 1, "name": h.name, "path": h.path, "verified": h.verified, "inliers": h.inliers,
            "score": h.score, "tfidf": h.bow_score, "size": list(h.size), "box": box,
            "polygons": polygons_as_lists(h.polygons)}  # fmt: skip


@app.command()
def run(
    root: RootOpt,
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option(help="Folder for ranks, pixels (both formats), scores.json.")],
    config: ConfigOpt = "fast",
    index_dir: Annotated[
        Path | None, typer.Option("--index", help="Index folder (default OUT/index).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="Processes (default: one per core).")
    ] = None,
    device: DeviceOpt = "auto",
    scheduler: SchedulerOpt = None,
) -> None:
    """Index a benchmark's database, run every query with its box, write results, evaluate."""
    bench = load_benchmark(root, dataset)
    res = run_engine(bench, get_config(config), index_dir or out / "index", workers, device=device,
                     scheduler=scheduler)  # fmt: skip
    r = write_run(out, bench, res, config)
    console.print(summary_table(r["summary"], f"pixret {config} on {dataset}"))
    tm = r["timing"]
    console.print(f"index {tm['index_seconds']:.1f} s for {tm['images']} images; query p50 "
                  f"{tm['query_seconds_p50']:.2f} s, p95 {tm['query_seconds_p95']:.2f} s; results in {out}")  # fmt: skip


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo benchmark, results and report.")] = Path(
        "pixret-demo"
    ),
    config: ConfigOpt = "fast",
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="Processes (default: one per core).")
    ] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Build the built-in benchmark, run the engine on it, evaluate, write an HTML report."""
    from ..datasets.synthetic import SyntheticConfig, make_benchmark
    from ..viz.report import write_report

    t0 = time.perf_counter()
    data = out / "data"
    name = "demo"
    try:
        bench = load_benchmark(data, name)
    except PixretError:
        console.print("building the demo benchmark from scikit-image's photographs ...")
        make_benchmark(data, SyntheticConfig(name=name), workers)
        bench = load_benchmark(data, name)
    res = run_engine(bench, get_config(config), out / "index", workers, device=device)
    r = write_run(out / "results", bench, res, config)
    report = write_report(r["eval"], out / "report.html", f"pixret {config}")
    console.print(summary_table(r["summary"], f"pixret {config} on the demo benchmark"))
    tm = r["timing"]
    console.print(f"{bench.n_queries} queries, {bench.n_database} images; index {tm['index_seconds']:.1f} s, "
                  f"query p50 {tm['query_seconds_p50']:.2f} s; total {time.perf_counter() - t0:.0f} s")  # fmt: skip
    console.print(f"report: {report}   results: {out / 'results'}")
