"""`pixret make-benchmark`, `pixret reference-results` and `pixret report`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PixretError
from . import app, note, say, stdout
from .options import (
    DatasetOpt,
    OneBasedOpt,
    PointOrder,
    PointsOpt,
    RootOpt,
    RunOpt,
    check_outputs,
    not_stdout,
    result_files,
    summary_table,
)


@app.command("make-benchmark")
def make_benchmark_cmd(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder to write the release layout into.")],
    real: Annotated[bool, typer.Option("--real", help="Build the real-photo benchmark (hand-labelled photos "
                                       "from installed packages) instead of a generated one.")] = False,
    landmarks: Annotated[bool, typer.Option("--landmarks", help="Build the real-landmark benchmark (3D buildings, "
                                            "hand-labelled as PROxford; photos downloaded and checked).")] = False,
    photos: Annotated[Path | None, typer.Option(help="--landmarks: a folder holding the photos (strecha/SCENE/"
                                                "NNNN.jpg, magsac/FILE) instead of downloading them.")] = None,
    mirror: Annotated[str | None, typer.Option(help="--landmarks: download the photos from this base URL "
                                               "(laid out as --photos) instead of their upstream addresses.")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (revisitop/data/NAME); default synth, real (--real) or landmarks (--landmarks).")] = None,
    queries: Annotated[int, typer.Option(help="Query objects.")] = 12,
    positives: Annotated[int, typer.Option(help="Images per query showing the object (junk included).")] = 8,
    distractors: Annotated[int, typer.Option(help="Images without any query object.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    composites: Annotated[int, typer.Option(help="--real: pasted positives per object.")] = 12,
    crops: Annotated[int, typer.Option(help="--real: distractor crops per scene photo.")] = 2,
) -> None:
    """Build a pixel retrieval benchmark: generated from scikit-image's photos, or (--real) from
    real photographs of the same objects with hand-drawn labels (pixret.datasets.generate.real),
    or (--landmarks) from real photos of 3D landmarks labelled as PROxford is
    (pixret.datasets.generate.landmarks)."""
    from ..datasets import load_benchmark
    from ..datasets.generate import SyntheticConfig, make_benchmark
    from ..datasets.release import check_new_name

    t0 = time.perf_counter()
    if real and landmarks:
        raise PixretError(None, "--real and --landmarks build two different benchmarks: give one")
    if (photos is not None or mirror is not None) and not landmarks:
        raise PixretError(None, "--photos and --mirror say where the --landmarks benchmark's photos are")
    if photos is not None and mirror is not None:
        raise PixretError(None, "give --photos (a folder) or --mirror (an address), not both")
    default = "real" if real else "landmarks" if landmarks else "synth"
    name = check_new_name(default if name is None else name)  # before anything is written
    if landmarks:
        from ..datasets.generate import LandmarkConfig, make_landmark_benchmark

        cfg = LandmarkConfig(name, None if photos is None else str(photos), mirror=mirror, seed=seed)
        base = make_landmark_benchmark(out, cfg, workers)
    elif real:
        from ..datasets.generate import RealConfig, make_real_benchmark

        base = make_real_benchmark(out, RealConfig(name, composites, crops, seed), workers)
    else:
        base = make_benchmark(out, SyntheticConfig(name, queries, positives, distractors, seed), workers)
    bench = load_benchmark(out, name)
    say(f"wrote {bench.n_queries} queries, {bench.n_database} images, {len(bench.pairs())} labelled pairs "
        f"to {base} in {time.perf_counter() - t0:.1f} s", to=stdout)


@app.command("reference-results")
def reference_results(
    root: RootOpt,
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option(help="Folder for ranks.npy and pixels.npy / pixels.json.")],
    shift: Annotated[
        float, typer.Option(help="Move each GT polygon right by this fraction of its width.")
    ] = 0.0,
    drop: Annotated[float, typer.Option(help="Fraction of pairs left without a prediction.")] = 0.0,
    swap: Annotated[float, typer.Option(help="Chance of swapping each pair of adjacent ranks.")] = 0.0,
    seed: int = 0,
) -> None:
    """Write results derived from the ground truth by known perturbations (for testing)."""
    from ..datasets import load_benchmark
    from ..evaluation import write_pixel_results, write_ranks
    from ..evaluation.perturbed import perturbed_results
    from ..pipelines.benchmark import check_out, drop_stale, record_run

    bench = load_benchmark(root, dataset)
    check_out(out)  # replaces only the run files a run wrote there
    ranks, pixels = perturbed_results(bench, shift, drop, swap, seed)
    oracle = f"the ground truth, perturbed: shift={shift} drop={drop} swap={swap} seed={seed}"  # a run folder that says so
    write_ranks(out / "ranks.npy", ranks)
    write_pixel_results(out / "pixels.npy", pixels)
    write_pixel_results(out / "pixels.json", pixels, method=f"reference shift={shift} drop={drop}", oracle=oracle)
    record_run(out, ["ranks.npy", "pixels.npy", "pixels.json"])
    say(f"wrote {out}/ranks.npy, pixels.npy, pixels.json: an oracle ({oracle}), marked as one wherever it is shown")
    for name in drop_stale(out, ["ranks.npy", "pixels.npy", "pixels.json"]):  # an earlier run's, not these results'
        note(f"removed {out / name}: an earlier pixret run wrote it here, and it does not describe these results")


@app.command()
def report(
    out: Annotated[Path, typer.Argument(metavar="REPORT.html", help="The HTML file to write.")],
    root: RootOpt,
    dataset: DatasetOpt,
    image_results: Annotated[Path | None, typer.Option(help="Image-level ranks (.npy or .json).")] = None,
    pixel_results: Annotated[Path | None, typer.Option(help="Pixel-level results (.npy or .json).")] = None,
    method: Annotated[str | None, typer.Option(help="Name shown in the report (default: the run's).")] = None,
    top: Annotated[int, typer.Option(help="Results shown per query.")] = 10,
    points: PointsOpt = PointOrder.xy,
    one_based: OneBasedOpt = False,
    run: RunOpt = None,
) -> None:
    """Write a self-contained HTML report: scores, curves, ranked results with masks."""
    from ..datasets import load_benchmark
    from ..evaluation import evaluate_files
    from ..evaluation.results import oracle_of
    from ..viz.report import write_report

    not_stdout("REPORT.html", out)
    check_outputs(out=out)
    image_results, pixel_results, named = result_files(run, image_results, pixel_results)
    if image_results is None:
        raise PixretError(None, "the report ranks images: give --image-results FILE (or --run FOLDER)")
    method = method or named or "method"
    bench = load_benchmark(root, dataset)
    ev = evaluate_files(bench, image_results, pixel_results, points=points.value, one_based=one_based)
    oracle = oracle_of(pixel_results)
    stdout.print(summary_table(ev.summarize(), f"{method}{' (oracle)' if oracle else ''} on {dataset}"))
    write_report(ev, out, method, top, oracle=oracle)
    say(f"wrote {out}")
