"""`pixret index`, `pixret search`, `pixret run` and `pixret demo`."""

from __future__ import annotations

import json
import time
import warnings
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from ..errors import PixretError, ResultsWarning
from ..escape import terminal
from . import app, console, note, say, stdout
from .options import (
    ConfigOpt,
    DatasetOpt,
    DeviceOpt,
    RootOpt,
    SchedulerOpt,
    WorkersOpt,
    check_outputs,
    is_stdout,
    summary_table,
    write_output,
)

if TYPE_CHECKING:  # the engine, NumPy and OpenCV are imported inside the commands (start-up: cli/__init__.py)
    from ..engine import Index


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
    from ..engine import Index, get_config
    from ..imageio import IMAGE_EXT, list_images

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
        say(f"added {len(idx) - len(old)} new images ({len(paths)} in the folder)", to=stdout)
    else:
        idx = Index.build(paths, get_config(config), index_dir, workers=workers, device=device, scheduler=scheduler)
    say(f"indexed {len(idx)} images in {time.perf_counter() - t0:.1f} s "
        f"({idx.memory_bytes() / max(1, len(idx)):.0f} B per image in memory, "
        f"{idx.shortlist_bytes() / max(1, len(idx)) / 1024:.1f} KB of postings), {len(idx.skipped)} skipped -> {index_dir}",
        to=stdout)  # fmt: skip
    skipped = len(idx.skipped) - (len(old.skipped) if add else 0)  # this run's: each was warned as it was met
    if skipped:  # said once each: the warnings named the files and why, this says where the list is kept
        say(f"{index_dir / 'index.json'} lists the file(s) skipped, with the reason for each")


class OutFormat(str, Enum):
    png = "png"
    coco = "coco"
    labelme = "labelme"


@app.command()
def search(
    index_dir: Annotated[Path, typer.Option("--index", help="An index built by `pixret index`.")],
    query: Annotated[Path | None, typer.Argument(metavar="IMAGE", help="Query image (or --queries for many).")] = None,
    box: Annotated[str | None, typer.Option(help="Object box x1,y1,x2,y2 in query pixels.")] = None,
    queries: Annotated[Path | None, typer.Option(
        "--queries", help="A file of queries, one per line: IMAGE x1,y1,x2,y2 (paths relative to the file).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Results to print, draw and write (at least 1).")] = 10,
    out: Annotated[Path | None, typer.Option(help="Folder for the results (--format); with --queries, a "
                                             "sub-folder per query.")] = None,
    fmt: Annotated[list[OutFormat] | None, typer.Option(
        "--format", help="What --out holds (repeatable): png (overlays), coco (one COCO JSON, RLE masks), "
        "labelme (a label file per found image). Default png.")] = None,
    unverified: Annotated[bool, typer.Option(
        "--unverified", help="--out draws the shortlisted images where the object was not found too.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print each search as JSON (Hit.to_json: homography, box, polygons, RLE mask) instead "
        "of a table; one line per query.")] = False,
    matches: Annotated[bool, typer.Option(
        "--matches", help="--json also holds each hit's inlier correspondences [qx, qy, x, y].")] = False,
    exclude_query: Annotated[bool, typer.Option(
        "--exclude-query", help="Leave the query image itself out of the results (same file, or the same "
        "image indexed elsewhere).")] = False,
    pairs_out: Annotated[Path | None, typer.Option(
        "--pairs-out", help="Write hloc's retrieval pairs (the --top first shortlisted images per query; '-': "
        "to stdout, the tables then to stderr).")] = None,
    image_dir: Annotated[Path | None, typer.Option(
        "--image-dir", help="--pairs-out: the image folder hloc reads (names relative to it; default: the "
        "folder that holds every indexed image).")] = None,
    device: DeviceOpt = "auto",
) -> None:  # fmt: skip
    """Search with an image and a box (or a file of them); print the ranking (to stdout), draw the
    object's pixels, write COCO / labelme / hloc files."""
    from contextlib import nullcontext

    from ..engine import Index
    from ..engine.index import hloc_name
    from ..geometry import Box
    from ..io import write_bytes
    from ..parallel import progress_bar
    from ..pipelines.search import OutputFolder, QueryLine, read_queries, write_coco, write_labelme

    if (query is None) == (queries is None):
        raise PixretError(None, "give a query IMAGE with --box, or --queries FILE (not both)")
    if query is not None and box is None:
        raise PixretError(None, "--box x1,y1,x2,y2 is needed with a query IMAGE")
    if image_dir is not None and not image_dir.is_dir():  # names relative to a file, or to nothing, resolve nowhere
        raise PixretError(image_dir, f"--image-dir: {'a file, not' if image_dir.exists() else 'no such'} folder: "
                          "give the folder hloc reads the images from")  # fmt: skip
    if check_outputs(pairs_out=pairs_out) and json_out:
        raise PixretError(None, "--pairs-out - and --json both write to stdout: give --pairs-out a file name")
    comments: list[int] = []
    todo = read_queries(queries, comments) if queries else [QueryLine(query, Box.parse(box), 0)]
    if comments:  # a line starting with '#' is a comment: said, never dropped silently
        shown = ", ".join(map(str, comments[:5])) + (f" and {len(comments) - 5} more" if len(comments) > 5 else "")
        note(f"{queries}: skipped {len(comments)} line(s) starting with '#' as comments (line {shown}); an image "
             "whose name starts with '#' is written ./#NAME")  # fmt: skip
    formats = set(fmt or [OutFormat.png])
    idx = Index.open(index_dir, device)
    pairs: list[str] = []
    root = (image_dir or idx.image_root()).resolve() if pairs_out else None
    for q in todo if root else ():  # a query name hloc's pairs cannot hold: said before any search
        hloc_name(q.image, root)
    with OutputFolder(out) if out else nullcontext() as written:  # built beside, swapped in
        for k, q in enumerate(progress_bar(todo, desc="queries", unit="q", enabled=len(todo) > 1)):
            r = idx.search_full(q.image, q.box, exclude_query=exclude_query)
            if json_out:
                doc = {"query": str(q.image), **r.to_json(top=top, matches=matches)}
                typer.echo(json.dumps(doc))
            else:
                _print_hits(q.image, r, top, console if is_stdout(pairs_out) else stdout)
            if written:
                sub = "" if queries is None else f"{k:03d}_{q.image.stem}/"  # a queries file: a folder per query
                if OutFormat.png in formats:
                    _draw(lambda name, sub=sub: written.path(sub + name), idx, q, r, top, unverified)
                if OutFormat.coco in formats:
                    write_coco(written.path(sub + "coco.json"), r, top, str(q.image), at=written.final(sub or "."))
                if OutFormat.labelme in formats:
                    write_labelme(written.folder(sub), r, top, at=written.final(sub or "."))
            if pairs_out:
                pairs += idx.pairs(q.image, r, top, relative_to=root)
        for text in written.commit() if written else ():
            note(text)
    if out:
        say(f"wrote {', '.join(sorted(f.value for f in formats))} results to {out}")
    if pairs_out:
        text = "\n".join(pairs) + "\n"
        if is_stdout(pairs_out):
            write_output(pairs_out, text)
        else:
            write_bytes(pairs_out, text.encode())
        say(f"wrote {len(pairs)} hloc pairs to {'stdout' if is_stdout(pairs_out) else pairs_out} (names relative to "
            f"{root})")  # fmt: skip


def _print_hits(query: Path, r, top: int, to=stdout) -> None:
    """The ranking as a table on stdout (names as plain text); ``to``: stderr when stdout holds a
    document (--pairs-out -)."""
    t = Table(title=rich_escape(terminal(f"{query.name}: {r.timings['total'] * 1000:.0f} ms")))
    for col in ("rank", "image", "inliers", "tf-idf", "verified"):
        t.add_column(col)
    for k, h in enumerate(r.hits[:top]):
        t.add_row(str(k + 1), rich_escape(terminal(h.name, one_line=True)), str(h.inliers), f"{h.bow_score:.3f}",
                  "yes" if h.verified else "")  # fmt: skip
    to.print(t)
    if not any(h.verified for h in r.hits[:top]):
        to.print("no match found: the object was not verified in any image (try a tighter box on a textured part)")


def _draw(dest, idx: Index, q, r, top: int, unverified: bool) -> None:
    """Overlay PNGs: the query with its box, then each found image with the object's pixels;
    ``dest(name)`` is where the file ``name`` is written."""
    from ..imageio import load_image, write_image
    from ..pipelines.search import chosen
    from ..viz.overlay import BOX_COLOR, PRED_COLOR, draw_box, draw_polygons, label

    write_image(dest("query.png"), draw_box(load_image(q.image), q.box))
    for rank, h in chosen(r, top, unverified):
        img = load_image(idx.image_path(h.index))
        if h.verified:
            img = draw_polygons(draw_polygons(img, h.box_polygons, BOX_COLOR, fill=False), h.polygons, PRED_COLOR)
        write_image(dest(f"{rank:03d}_{Path(h.name).name}.png"), label(img, f"#{rank} {h.inliers} inliers"))


def _timing(tm: dict) -> str:
    p50, p95 = tm["query_seconds_p50"], tm["query_seconds_p95"]
    queries = "no query answered" if p50 is None else f"query p50 {p50:.2f} s, p95 {p95:.2f} s"
    return f"index {tm['index_seconds']:.1f} s for {tm['images']} images; {queries}"


def _print_run(folder, title: str) -> None:
    """The run's scores table and timings (stdout), then its notes (stderr), from its scores.json."""
    scores = folder.read_scores()
    stdout.print(summary_table({p: scores[p] for p in ("compat", "strict") if p in scores}, title))
    say(f"{_timing(scores['timing'])}; results in {folder.path}", to=stdout)
    for text in scores.get("notes", []):
        note(text)


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
    from ..datasets import load_benchmark
    from ..engine import get_config
    from ..evaluation.results import RunFolder
    from ..pipelines import benchmark as pipeline

    bench = load_benchmark(root, dataset)
    folder = RunFolder(pipeline.main(get_config(config), bench, out, index_dir, workers=workers, device=device,
                                     scheduler=scheduler))  # fmt: skip
    _print_run(folder, f"pixret {config} on {dataset}")


REPORT = "report.html"  # the demo's report, in its folder


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
    from ..datasets import load_benchmark
    from ..datasets.generate.synthetic import SyntheticConfig, make_benchmark
    from ..engine import get_config
    from ..engine.store import check_index_folder
    from ..pipelines import benchmark as pipeline
    from ..viz.report import write_report

    t0 = time.perf_counter()
    data = out / "data"
    name = "demo"
    # before any work: the run folder, the report and the index folder take no file pixret did not write
    pipeline.check_out(out / "results")
    pipeline.check_out(out, files=(REPORT,))
    check_index_folder(out / "index")
    try:
        bench = load_benchmark(data, name)
    except PixretError:
        say("building the demo benchmark from scikit-image's photographs ...")
        make_benchmark(data, SyntheticConfig(name=name), workers)
        bench = load_benchmark(data, name)
    run = pipeline.run_engine(bench, get_config(config), out / "index", workers, device=device)
    folder = pipeline.write_run(out / "results", bench, run, config)
    with warnings.catch_warnings():
        # the demo scores pixret's own run on data it made: that the release's script would find
        # no value at a threshold (compat; docs/protocols.md, difference 10) is no news to a first run
        warnings.filterwarnings("ignore", r"compat \w+: no query keeps a positive", ResultsWarning)
        ev = pipeline.score(folder, bench, run)
    report = write_report(ev, out / REPORT, f"pixret {config}")
    pipeline.record_run(out, [REPORT])  # the demo's report: replaced by the next demo, never a file of the user's
    _print_run(folder, f"pixret {config} on the demo benchmark")
    say(f"{bench.n_queries} queries, {bench.n_database} images; total {time.perf_counter() - t0:.0f} s", to=stdout)
    say(f"report: {report}   results: {out / 'results'}")
