"""Results made from the ground truth, perturbed by known amounts (`pixret reference-results`).

It lets a test predict the scores: ``shift=0`` gives IoU 1 for every pair, ``shift=f`` moves
each polygon right by ``f`` times its box width (a box's IoU becomes (1-f)/(1+f)), ``drop``
removes that fraction of pixel predictions, and ``swap`` exchanges that fraction of adjacent
positions in the otherwise perfect ranking.
"""

from __future__ import annotations

import numpy as np

from ..datasets.model import Benchmark
from .results import PixelPrediction, PixelResults


def perfect_ranks(bench: Benchmark) -> np.ndarray:
    """Per query: easy, then hard, then junk, then the rest in index order."""
    cols = []
    for q in bench.queries:
        head = [int(i) for i in (*q.easy, *q.hard, *q.junk)]
        seen = set(head)
        cols.append(head + [i for i in range(bench.n_database) if i not in seen])
    return np.array(cols, dtype=np.int64).T


def perturbed_results(
    bench: Benchmark, shift: float = 0.0, drop: float = 0.0, swap: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, PixelResults]:
    """(ranks, pixel results) derived from the ground truth of ``bench``."""
    rng = np.random.default_rng(seed)
    ranks = perfect_ranks(bench)
    if swap > 0:
        for q in range(ranks.shape[1]):
            for k in np.flatnonzero(rng.random(ranks.shape[0] - 1) < swap):
                ranks[[k, k + 1], q] = ranks[[k + 1, k], q]
    pixels: PixelResults = {}
    for q, i in bench.pairs():
        gt = bench.gt(q, i)
        if gt is None or not gt.polygons or rng.random() < drop:
            continue
        pts = gt.all_points
        dx = shift * float(pts[:, 0].max() - pts[:, 0].min())
        pixels[(q, i)] = PixelPrediction([p + [dx, 0.0] for p in gt.polygons])
    return ranks, pixels
