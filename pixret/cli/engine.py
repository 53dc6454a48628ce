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
from ..engine import Index, get_config
from ..errors import PixretError
from ..evaluation.results import RunFolder
from ..geometry import Box, polygons_as_lists
from ..imageio import IMAGE_EXT, list_images, load_image, write_image
from ..pipelines import benchmark as pipeline
from . import app, console, say
from .options import ConfigOpt, DatasetOpt, DeviceOpt, RootOpt, SchedulerOpt, WorkersOpt, summary_table

stdout = Console(soft_wrap=True)  # results go to stdout (progress and notes to stderr)


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
    ignored: list[Path] = []
    paths = list_images(images, ignored)
    if ignored:
        kinds = ", ".join(sorted({p.suffix.lower() or p.name for p in ignored})[:6])
        say(f"ignored {len(ignored)} file(s) that are not images pixret reads ({kinds}; first: {ignored[0]}); "
            f"it reads {', '.join(sorted(IMAGE_EXT))}")
    if not paths:
        raise PixretError(
            images, f"no images found (looked for {', '.join(sorted(IMAGE_EXT))}, in subfolders too)"
        )
    if add:
        old = Index.open(index_dir, device=device)
        idx = old.add(paths, workers=workers, progress=True, scheduler=scheduler)
        say(f"added {len(idx) - len(old)} new images ({len(paths)} in the folder)")
    else:
        idx = Index.build(paths, get_config(config), index_dir, workers=workers, device=device, scheduler=scheduler)
    say(f"indexed {len(idx)} images in {time.perf_counter() - t0:.1f} s "
        f"({idx.memory_bytes() / max(1, len(idx)):.0f} B per image in memory, "
        f"{idx.shortlist_bytes() / max(1, len(idx)) / 1024:.1f} KB of postings), {len(idx.skipped)} skipped -> {index_dir}")
    if idx.skipped:
        first = idx.skipped[0]
        say(f"skipped {len(idx.skipped)} file(s) the indexer could not take (first: {first['path']}: "
            f"{first['reason']}); every one is listed in {index_dir / 'index.json'}")


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
    r = idx.search_full(query, Box.parse(box))
    hits = r.hits[:top]
    if json_out:
        doc = {"query": str(query), "box": list(Box.parse(box)), "seconds": round(r.timings["total"], 4),
               "hits": [_hit_json(k, h) for k, h in enumerate(hits)]}  # fmt: skip
        typer.echo(json.dumps(doc))
    else:
        t = Table(title=f"{query.name}: {r.timings['total'] * 1000:.0f} ms")
        for col in ("rank", "image", "inliers", "tf-idf", "verified"):
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
                        )

        write_image(out / "query.png", draw_box(load_image(query), Box.parse(box)))
        for k, h in enumerate(r.hits[:top]):
            img = load_image(idx.image_path(h.index))
            if h.verified:
                img = draw_polygons(
                    draw_polygons(img, h.box_polygons, BOX_COLOR, fill=False), h.polygons, PRED_COLOR
                )
            write_image(out / f"{k + 1:03d}_{h.name}.png", label(img, f"#{k + 1} {h.inliers} inliers"))
        say(f"wrote overlays to {out}")


def _hit_json(k: int, h) -> dict:
    box = None
    if h.box_polygons:
        pts = np.concatenate(h.box_polygons)
        box = np.round([*pts.min(0), *pts.max(0)], 1).tolist()
    return {"rank": k + 1, "name": h.name, "path": h.path, "verified": h.verified, "inliers": h.inliers,
            "score": h.score, "tfidf": h.bow_score, "size": list(h.size), "box": box,
            "polygons": polygons_as_lists(h.polygons)}  # fmt: skip


def _timing(tm: dict) -> str:
    p50, p95 = tm["query_seconds_p50"], tm["query_seconds_p95"]
    queries = "no query answered" if p50 is None else f"query p50 {p50:.2f} s, p95 {p95:.2f} s"
    return f"index {tm['index_seconds']:.1f} s for {tm['images']} images; {queries}"


def _print_run(folder, title: str) -> None:
    """The run's scores table, timings and notes (from its scores.json)."""
    scores = folder.read_scores()
    console.print(summary_table({p: scores[p] for p in ("compat", "strict") if p in scores}, title))
    say(f"{_timing(scores['timing'])}; results in {folder.path}")
    for note in scores.get("notes", []):
        say(note, "note:", "yellow")


@app.command()
def run(
    root: RootOpt,
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option(help="Folder for ranks, pixels (both formats), scores.json.")],
    config: ConfigOpt = "fast",
    index_dir: Annotated[
        Path | None, typer.Option("--index", help="Index folder (default OUT/index).")
    ] = None,
    workers: WorkersOpt = None,
    device: DeviceOpt = "auto",
    scheduler: SchedulerOpt = None,
) -> None:
    """Index a benchmark's database, run every query with its box, write results, evaluate."""
    bench = load_benchmark(root, dataset)
    folder = RunFolder(pipeline.main(get_config(config), bench, out, index_dir, workers=workers, device=device,
                                     scheduler=scheduler))  # fmt: skip
    _print_run(folder, f"pixret {config} on {dataset}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo benchmark, results and report.")] = Path(
        "pixret-demo"
    ),
    config: ConfigOpt = "fast",
    workers: WorkersOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Build the built-in benchmark, run the engine on it, evaluate, write an HTML report."""
    from ..datasets.generate.synthetic import SyntheticConfig, make_benchmark
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
    run = pipeline.run_engine(bench, get_config(config), out / "index", workers, device=device)
    folder = pipeline.write_run(out / "results", bench, run, config)
    ev = pipeline.score(folder, bench, run)
    report = write_report(ev, out / "report.html", f"pixret {config}")
    _print_run(folder, f"pixret {config} on the demo benchmark")
    console.print(f"{bench.n_queries} queries, {bench.n_database} images; total {time.perf_counter() - t0:.0f} s")
    say(f"report: {report}   results: {out / 'results'}")
