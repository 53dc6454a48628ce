"""`pixret import-hloc`: an hloc pipeline's pairs, features.h5 and matches.h5 -> a run folder with
pixel-level results and scores (pixret.pipelines.hloc)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .. import escape
from ..errors import PixretError
from . import app, note, say, stdout
from .options import ConfigOpt, DatasetOpt, RootOpt, check_outputs, is_stdout, summary_table, write_output


class Order(str, Enum):
    inliers = "inliers"
    retrieval = "retrieval"


class Carry(str, Enum):
    box = "box"
    mask = "mask"


@app.command("import-hloc")
def import_hloc(
    root: RootOpt,
    dataset: DatasetOpt,
    pairs: Annotated[Path, typer.Option(help="hloc's retrieval pairs: 'query database' per line, in retrieval order.")],
    features: Annotated[Path, typer.Option(help="hloc's features.h5 (keypoints, image_size per image).")],
    matches: Annotated[Path, typer.Option(help="hloc's matches.h5 (matches0 per pair).")],
    out: Annotated[Path, typer.Option(help="Run folder to write: ranks.npy, pixels.json, pixels.npy, scores.json.")],
    method: Annotated[str, typer.Option(help="The method's name in the results and in compare.")] = "hloc",
    config: ConfigOpt = "fast",
    order: Annotated[Order, typer.Option(help="inliers: verified images first, by inliers (as the engine "
                                         "re-ranks); retrieval: the pairs file's order.")] = Order.inliers,
    carry: Annotated[Carry, typer.Option(help="What is carried into each verified image: the query box, or "
                                         "the query's labelled mask (queries/NAME/q.json).")] = Carry.box,
) -> None:
    """Score an hloc pipeline at pixel level: fit a homography per pair with the engine's
    verification (config's verify settings), carry the query's box into each verified image,
    write a run folder and evaluate it (both protocols)."""
    from ..datasets import load_benchmark
    from ..pipelines import hloc as pipeline

    bench = load_benchmark(root, dataset)
    folder, ev = pipeline.main(bench, pairs, features, matches, out, method, config, order.value, carry.value)
    scores = folder.read_scores()
    oracle = " (oracle)" if scores.get("oracle") else ""
    stdout.print(summary_table(ev.summarize(), f"{method} (hloc){oracle} on {dataset}"))
    for text in scores["notes"]:
        note(text)
    again = escape.command("pixret", "compare", "--root", root, "--dataset", dataset, "--run", f"{method}={out}")
    say(f"wrote {folder.path}; compare: {again}")


@app.command("export-hloc-pairs")
def export_hloc_pairs(
    root: RootOpt,
    dataset: DatasetOpt,
    run: Annotated[Path, typer.Option("--run", metavar="FOLDER", help="A run folder (pixret run): its ranks.npy.")],
    out: Annotated[Path, typer.Option(help="hloc pairs file to write ('query database' per line; '-': stdout).")],
    top: Annotated[int, typer.Option(help="Images per query, in the run's order.", min=1)] = 50,
) -> None:
    """Write hloc's retrieval pairs from a pixret ranking (each query's top images), for hloc's
    match_features; then `pixret import-hloc` scores what hloc matched."""
    from ..datasets import load_benchmark
    from ..evaluation.results import RunFolder, load_ranks
    from ..pipelines import hloc as pipeline

    check_outputs(out=out)
    bench = load_benchmark(root, dataset)
    folder = RunFolder(run).check()
    if folder.oracle():  # its ranking comes from the labels: pairs made from it would carry them into import-hloc
        raise PixretError(folder.path, f"an oracle, built from the benchmark's labels ({folder.oracle()}): hloc's "
                          "retrieval pairs come from a method's ranking")  # fmt: skip
    root = pipeline.image_root(bench)
    pairs = pipeline.pairs_from_ranks(bench, load_ranks(bench, folder.ranks), top, root)
    if is_stdout(out):
        write_output(out, pipeline.pairs_text(pairs, "stdout"))
    else:
        pipeline.write_pairs(out, pairs)
    where = f"names relative to {root}" if root else "the benchmark's images are not here: names are theirs, with .jpg"
    say(f"wrote {len(pairs)} pairs ({min(top, bench.n_database)} per query) to {'stdout' if is_stdout(out) else out} "
        f"({where})")  # fmt: skip
