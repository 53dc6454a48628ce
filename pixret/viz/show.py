"""Per-query pictures: ground truth and predictions drawn on the database images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..datasets.model import Benchmark, Query
from ..errors import PixretError
from ..evaluation.results import PixelPrediction
from ..geometry import rle_to_mask
from ..imageio import load_image, write_image
from .overlay import (
    GT_COLOR,
    PRED_COLOR,
    STATUS_COLORS,
    draw_box,
    draw_polygons,
    frame,
    label,
    tint,
)


def status_of(q: Query, i: int) -> str:
    """'true' for a positive, 'junk' for junk, else 'false' (medium protocol)."""
    if i in set(q.positives.tolist()):
        return "true"
    if i in set(q.junk.tolist()):
        return "junk"
    return "false"


def render_pair(bench: Benchmark, q: Query, i: int, pred: PixelPrediction | None) -> np.ndarray | None:
    """Database image ``i`` with GT (green) and the prediction (red); None without images."""
    path = bench.database_image(i)
    if path is None:
        return None
    img = load_image(path)
    gt = bench.gt(q.index, i)
    if gt is not None:
        img = draw_polygons(img, gt.polygons, GT_COLOR, fill=False)
    if pred is not None and not pred.empty:
        if pred.rle is not None:
            img = tint(img, rle_to_mask(pred.rle), PRED_COLOR)
        else:
            img = draw_polygons(img, pred.polygons, PRED_COLOR)
    return img


def render_query(bench: Benchmark, q: Query) -> np.ndarray | None:
    path = bench.query_image(q.index)
    if path is None:
        return None
    img = draw_box(load_image(path), q.box)
    qm = q.query_mask()
    return draw_polygons(img, qm.polygons, GT_COLOR) if qm else img


def show_query(
    bench: Benchmark,
    q: int,
    pixels: dict,
    out: str | os.PathLike,
    ranks: np.ndarray | None = None,
    top: int = 20,
) -> list[Path]:
    """Write PNGs: the query with its box, then its ``top`` best-ranked database images (files
    ``qQQQ_rRRR_NAME.png``, labelled "#rank") or, without ``ranks``, its first ``top`` positives
    in database order (``qQQQ_pKKK_NAME.png``, labelled "positive k of n": not a rank)."""
    out = Path(out)
    query = bench.queries[q]
    if bench.query_image(q) is None:
        raise PixretError(bench.root, f"no images of {bench.name} here; download them first")
    written = [out / f"q{q:03d}_query.png"]
    write_image(written[0], label(render_query(bench, query), f"query {q}: {query.name}"))
    items = ranks[:top, q].tolist() if ranks is not None else query.positives.tolist()[:top]
    for k, i in enumerate(items):
        img = render_pair(bench, query, int(i), pixels.get((q, int(i))))
        if img is None:
            continue
        st = status_of(query, int(i))
        name = bench.database[int(i)].replace("/", "_")
        if ranks is not None:
            path, text = out / f"q{q:03d}_r{k:03d}_{name}.png", f"#{k + 1} {st}"
        else:
            path, text = out / f"q{q:03d}_p{k:03d}_{name}.png", f"positive {k + 1} of {len(query.positives)} {st}"
        write_image(path, frame(label(img, text), STATUS_COLORS[st]))
        written.append(path)
    return written


def show_queries(bench: Benchmark, queries: list[int], pixels: dict, out: str | os.PathLike,
                 ranks: np.ndarray | None = None, top: int = 20) -> tuple[list[Path], list[str]]:  # fmt: skip
    """``show_query`` for each of ``queries`` into the folder ``out``, built beside and swapped in
    as `pixret search --out` is (``pipelines.search.OutputFolder``): the PNGs an earlier show (or
    search) wrote there and this one does not write again are removed, a file pixret did not
    write is never replaced. Returns (the files written, in ``out``; notes on what was removed
    or kept). PixretError (nothing in ``out`` replaced) when a name is taken by a file of the
    user's."""
    from ..pipelines.search import OutputFolder

    with OutputFolder(out, "show") as folder:
        staged = [p for q in queries for p in show_query(bench, q, pixels, folder.folder(), ranks, top)]
        notes = folder.commit()
    return [folder.final(p.name) for p in staged], notes


def results_figure(bench: Benchmark, pixels: dict, ranks: np.ndarray, out: str | os.PathLike,
                   queries: list[int] | None = None, per_query: int = 3, height: int = 220) -> Path:  # fmt: skip
    """One PNG of a few queries' results, a row each: the query with its box and labelled object
    (green), then its ``per_query`` best-ranked positives with the label (green) and the
    method's pixels (red); a positive the method gave no pixels is shown too, its rank marked
    "no mask" (a miss stays visible). ``pixels``: (query, image) -> PixelPrediction; ``ranks``
    (n_database, n_queries). Default queries: every one, in order."""
    import cv2

    rows = []
    for q in queries if queries is not None else range(bench.n_queries):
        query = bench.queries[q]
        tiles = [label(render_query(bench, query), query.name)]
        pos = set(query.positives.tolist())
        order = [int(i) for i in ranks[:, q]]
        for rank, i in [(r, i) for r, i in enumerate(order, 1) if i in pos][:per_query]:
            pred = pixels.get((q, i))
            masked = pred is not None and not pred.empty
            tiles.append(label(render_pair(bench, query, i, pred), f"#{rank}" if masked else f"#{rank}, no mask"))
        tiles = [cv2.resize(t, (max(1, round(t.shape[1] * height / t.shape[0])), height)) for t in tiles if t is not None]
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    canvas = np.full((height * len(rows), width, 3), 255, np.uint8)
    for k, r in enumerate(rows):
        canvas[k * height : (k + 1) * height, : r.shape[1]] = r
    write_image(out, canvas)
    return Path(out)
