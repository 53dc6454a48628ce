"""The shortlist stage: the images that spatial verification will see, cut from the tf-idf
scores of every image (postings.py) or, for the exhaustive baseline, every image.

Why tf-idf rather than ASMK: with spatial verification re-ranking the shortlist, it only has to
keep true images in its top k, and tf-idf over a large vocabulary (words split by signature
bits) does that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def auto_top_k(n_images: int) -> int:
    """Shortlist length: 100 up to 100k images, then growing with the log of the collection to
    300 at a million. Why: among a million images more distractors outscore a true image with
    a small object in tf-idf, and verification is cheap (bench_scale.py at 1M: 100 verified 125
    of 170 positives, 300 verified 129, against 139 at 5k, for 0.09 s more a query)."""
    grow = min(1.0, max(0.0, math.log10(max(n_images, 1) / 1e5)))
    return int(round(100 + 200 * grow))


@dataclass
class Shortlist:
    """The candidates of one query.

    ``ids`` (k,) int64 database indices, best tf-idf first (every image, in index order, for the
    exhaustive baseline); ``scores`` (n_images,) float64 tf-idf cosine of every image (zeros when
    exhaustive: nothing was scored)."""

    ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def cut(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` best-scoring images with a positive score, best first (ties by index), leaving
    out the ids in ``exclude``. O(n) selection then a sort of k: at a million images a full
    sort would cost 0.1 s a query."""
    s = scores
    if exclude is not None and len(exclude):
        s = scores.copy()
        s[exclude] = -np.inf
    k = min(k, len(s))
    if k <= 0:
        return np.zeros(0, np.int64)
    cand = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
    cand = cand[np.lexsort((cand, -s[cand]))]
    return cand[s[cand] > 0].astype(np.int64)


def exhaustive(n_images: int) -> Shortlist:
    """Every image, unscored (the paper's baseline verifies them all)."""
    return Shortlist(np.arange(n_images, dtype=np.int64), np.zeros(n_images))
